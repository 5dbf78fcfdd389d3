-- request_id is the service's own id for the request from now on; the X-Request-Id a client sent (which it can
-- choose freely, and so could make collide with another request's) is kept beside it, never in its place.
alter table audit_log add column client_request_id text;
