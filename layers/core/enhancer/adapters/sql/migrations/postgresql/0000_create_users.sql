-- Timestamps are text in the format SQLite's CURRENT_TIMESTAMP writes, so both dialects store, sort and compare
-- them alike (the application writes every timestamp the repositories use; these defaults are for the rest).
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  username TEXT NOT NULL UNIQUE,
  full_name TEXT,
  email TEXT NOT NULL UNIQUE,
  image TEXT,
  created_at TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')
);
