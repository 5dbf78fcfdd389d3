-- An operator's note when resolving a reconciliation discrepancy by hand (POST /v1/admin/billing/discrepancies/{id}/resolve).
alter table billing_discrepancies add column resolution_note text;
