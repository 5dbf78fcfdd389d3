-- ASP.NET Core data-protection keys (antiforgery tokens of the jobs dashboard), shared by every instance.
create table data_protection_keys (
    id text primary key,
    xml text not null,
    created_at timestamptz not null,
    updated_at timestamptz not null
);
