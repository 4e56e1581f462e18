-- Actions: one row per bulk request. `no` is a compact key for the per-entity tables.
CREATE TABLE actions (
  no INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  account_id TEXT NOT NULL,
  entity_type TEXT NOT NULL,
  status TEXT NOT NULL,
  fields_to_update TEXT NOT NULL,
  total_entities INTEGER NOT NULL,
  processed INTEGER NOT NULL DEFAULT 0,
  succeeded INTEGER NOT NULL DEFAULT 0,
  failed INTEGER NOT NULL DEFAULT 0,
  skipped INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  scheduled_at INTEGER,
  started_at INTEGER,
  completed_at INTEGER,
  error TEXT,
  payload_hash TEXT NOT NULL,
  idempotency_key TEXT,
  creation_response TEXT NOT NULL
);
CREATE INDEX actions_by_created ON actions (created_at DESC, no DESC);
CREATE INDEX actions_by_account ON actions (account_id, created_at DESC, no DESC);
CREATE UNIQUE INDEX actions_by_idempotency_key ON actions (account_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX actions_by_payload ON actions (account_id, payload_hash, created_at);

-- One row per submitted entity ID (repeats included), keyed by its position in the request.
CREATE TABLE action_outcomes (
  action_no INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  entity_id TEXT NOT NULL,
  status TEXT NOT NULL,
  code TEXT,
  message TEXT,
  processed_at INTEGER NOT NULL,
  PRIMARY KEY (action_no, seq)
) WITHOUT ROWID;
-- Failures and skips are few: a partial index finds them without indexing a million successes.
CREATE INDEX action_outcomes_not_success ON action_outcomes (action_no, status, seq) WHERE status <> 'SUCCESS';

CREATE TABLE action_error_counts (
  action_no INTEGER NOT NULL,
  code TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (action_no, code)
) WITHOUT ROWID;

-- Temporary: which position owns a shared de-dup key in a running action. Dropped on completion.
CREATE TABLE action_key_claims (
  action_no INTEGER NOT NULL,
  key TEXT NOT NULL,
  seq INTEGER NOT NULL,
  entity_id TEXT NOT NULL,
  PRIMARY KEY (action_no, key)
) WITHOUT ROWID;

-- CRM records of every type. New types need no migration: their fields live in `data`.
CREATE TABLE entities (
  entity_type TEXT NOT NULL,
  id TEXT NOT NULL,
  account_id TEXT NOT NULL,
  data TEXT NOT NULL,
  dedupe_key TEXT,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (entity_type, id)
) WITHOUT ROWID;
CREATE INDEX entities_by_account ON entities (entity_type, account_id, id);
CREATE INDEX entities_by_dedupe_key ON entities (entity_type, account_id, dedupe_key) WHERE dedupe_key IS NOT NULL;

-- The embedded queue. A row is a batch; a lease hides it from other consumers until it expires.
CREATE TABLE queue_batches (
  id INTEGER PRIMARY KEY,
  action_id TEXT NOT NULL,
  payload TEXT NOT NULL,
  deliveries INTEGER NOT NULL DEFAULT 0,
  leased_until INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX queue_batches_by_lease ON queue_batches (leased_until, id);
CREATE INDEX queue_batches_by_action ON queue_batches (action_id);
