-- API keys (src/auth/): the public id of `bap_<id>_<secret>`, the account it acts for (`*`: admin)
-- and sha256 of the whole key; the key itself is never stored. A revoked key keeps its row, so
-- `npm run keys -- list` shows when it was revoked.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
) STRICT;
