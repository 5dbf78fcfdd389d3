create table job_runs (
    id text primary key,
    job_id text not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    outcome text not null,
    items bigint not null default 0,
    error text,
    correlation_id text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
create index ix_job_runs_job_started on job_runs (job_id, started_at);
create index ix_job_runs_started on job_runs (started_at);

create table job_leases (
    job_id text primary key,
    holder text not null,
    lease_until timestamptz not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);

create table admin_credentials (
    id text primary key,
    key_hash text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
