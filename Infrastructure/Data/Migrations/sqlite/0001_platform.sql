create table job_runs (
    id text primary key,
    job_id text not null,
    started_at text not null,
    finished_at text,
    outcome text not null,
    items integer not null default 0,
    error text,
    correlation_id text not null,
    created_at text not null,
    updated_at text not null
);
create index ix_job_runs_job_started on job_runs (job_id, started_at);
create index ix_job_runs_started on job_runs (started_at);

create table job_leases (
    job_id text primary key,
    holder text not null,
    lease_until text not null,
    created_at text not null,
    updated_at text not null
);

create table admin_credentials (
    id text primary key,
    key_hash text not null,
    created_at text not null,
    updated_at text not null
);
