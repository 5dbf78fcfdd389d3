-- What a run counted beyond its item total (a JSON object of named counts: done, failed, bytes freed, batches),
-- for jobs that report them; null for the others.
alter table job_runs add column counts text;
