-- The transactional outbox: an action's batch plan is stored in the same transaction as the action,
-- and published to the queue after. `published` flips once the queue accepted every batch; the
-- outbox sweeper publishes actions a crash left unpublished. Plans are deleted when the action ends.
ALTER TABLE actions ADD COLUMN batch_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE actions ADD COLUMN published INTEGER NOT NULL DEFAULT 1;
-- Nothing sets it any more: an action fails through its outcomes, never as a whole.
ALTER TABLE actions DROP COLUMN error;
CREATE INDEX actions_unpublished ON actions (created_at) WHERE published = 0;

CREATE TABLE action_batches (
  action_no INTEGER NOT NULL,
  batch_no INTEGER NOT NULL,
  payload TEXT NOT NULL,
  PRIMARY KEY (action_no, batch_no)
) WITHOUT ROWID;

-- The queue's lease holder: set on claim, checked by renew, ack and release (a consumer whose lease
-- was taken over cannot settle the batch), cleared when the batch is handed back for a retry.
ALTER TABLE queue_batches ADD COLUMN lease_token TEXT;
-- Why the batch's last delivery was handed back (the consumer logged it too): shown to operators.
ALTER TABLE queue_batches ADD COLUMN last_error TEXT;

-- Batches given up on (out of attempts, or a payload that does not parse): kept for operators.
CREATE TABLE queue_dead_letters (
  id INTEGER PRIMARY KEY,
  action_id TEXT,
  payload TEXT NOT NULL,
  reason TEXT NOT NULL,
  deliveries INTEGER NOT NULL,
  dead_lettered_at INTEGER NOT NULL
);
