-- Per-table storage settings for Broadcast's busiest table (PostgreSQL only; install.sh applies this after
-- `broadcast db upgrade`; running it again changes nothing).
-- delivery: one row per resident × channel × run, each updated 3–4 times within minutes of its insert. Vacuum
-- at 2 % dead rows (or 1,000) so index scans of the outbox stay short during a campaign, analyse at 1 % so the
-- planner sees a fresh fan-out at once, and leave 10 % free per page so status updates can stay on the same page.
ALTER TABLE delivery SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.01,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    fillfactor = 90
);
-- delivery_attempt is insert-only: vacuum it for the visibility map (index-only scans), not for dead rows.
ALTER TABLE delivery_attempt SET (autovacuum_vacuum_insert_scale_factor = 0.05);
