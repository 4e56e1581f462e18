-- Retention (src/actions/retention.ts): finished actions older than RETENTION_DAYS are purged in
-- slices. The purge finds them by completion time; only finished actions have one.
CREATE INDEX actions_by_completed ON actions (completed_at) WHERE completed_at IS NOT NULL;

-- Actions being purged. The purge deletes the action row (and its small per-action rows) first,
-- so the action is gone for every reader at once, and notes its number here; its outcome rows
-- are then deleted a slice at a time, and the number is dropped with the last of them. While a
-- number is here, insertAction numbers new actions above it: outcome rows left of a purged action
-- can never be taken for a new one's.
CREATE TABLE action_purges (action_no INTEGER PRIMARY KEY);

-- Dead letters are purged by age, whatever their action (an unparseable payload has none).
CREATE INDEX queue_dead_letters_by_time ON queue_dead_letters (dead_lettered_at);

-- Space: a database created from now on has auto_vacuum=INCREMENTAL (set in openDatabase before
-- the first table), so the purge can hand freed pages back to the file system a slice at a time
-- (PRAGMA incremental_vacuum). An older file keeps auto_vacuum=NONE until it is rewritten once by
-- `PRAGMA auto_vacuum=INCREMENTAL; VACUUM;` with the server stopped (see docs/deploying.md): a
-- migration cannot run VACUUM (not inside a transaction), and doing it at start-up would stall the
-- start for seconds per GB and need the file's size again in free disk. Until then the pages the
-- purge frees are reused by new rows, so the file stops growing but does not shrink.
