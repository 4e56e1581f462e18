-- The writer stamp of the action that last wrote an entity (`writerStamp` in src/store/entityStore.ts:
-- creation time and a hash of the action id, stored as a 10-byte BLOB, which compares byte by byte
-- in creation order). An update is applied only where the stored stamp is NULL or <= the writing
-- action's, in the same statement: the action created later wins, per entity. NULL for seeded
-- entities. Adding a NULL column rewrites nothing, however many entities there are.
ALTER TABLE entities ADD COLUMN writer BLOB;

-- Processing time (GET /stats durationMs): the union of the finished batches' processing intervals,
-- kept as the closed part (busy_ms) plus the open span [busy_since, busy_until] (src/store/busyTime.ts).
ALTER TABLE actions ADD COLUMN busy_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE actions ADD COLUMN busy_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE actions ADD COLUMN busy_until INTEGER NOT NULL DEFAULT 0;
-- Actions from before: their wall-clock duration so far is the best there is.
UPDATE actions SET busy_since = started_at, busy_until = coalesce(completed_at, started_at) WHERE started_at IS NOT NULL;
