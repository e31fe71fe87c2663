-- Personal API keys (docs/architecture.md §3, API keys). Only the SHA-256 of a key is kept (key_hash, unique:
-- a request's key is found by it), never the key; prefix is its first 12 characters, shown so its owner can
-- tell keys apart. scopes are space-separated; the timestamps are ISO-8601 UTC text written by the application
-- (`…Z`, so they compare as text), revoked_at NULL while the key works.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  prefix TEXT NOT NULL,
  key_hash TEXT NOT NULL,
  scopes TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT
);
CREATE UNIQUE INDEX idx_api_keys_key_hash ON api_keys(key_hash);
CREATE INDEX idx_api_keys_user_created_at ON api_keys(user_id, created_at);
