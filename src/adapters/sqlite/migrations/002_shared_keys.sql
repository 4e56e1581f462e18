-- De-dup keys held by more than one entity of a type in an account. A batch joins this small
-- table instead of probing the entities index once per entity to ask "is my key shared?".
-- Kept exact by SqliteEntityStore, the only writer of entities.
CREATE TABLE entity_shared_keys (
  entity_type TEXT NOT NULL,
  account_id TEXT NOT NULL,
  key TEXT NOT NULL,
  PRIMARY KEY (entity_type, account_id, key)
) WITHOUT ROWID;

INSERT INTO entity_shared_keys (entity_type, account_id, key)
  SELECT entity_type, account_id, dedupe_key FROM entities
  WHERE dedupe_key IS NOT NULL GROUP BY entity_type, account_id, dedupe_key HAVING count(*) > 1;
