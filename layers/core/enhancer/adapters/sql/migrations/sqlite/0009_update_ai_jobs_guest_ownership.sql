-- Jobs may belong to guests: owner_type/owner_ref identify the owner; owner_ref of a guest is its
-- owner key (HMAC of the guest cookie), never the cookie itself.
ALTER TABLE ai_jobs RENAME TO ai_jobs_old;
DROP INDEX IF EXISTS idx_ai_jobs_user_created_at;

CREATE TABLE ai_jobs (
  id TEXT PRIMARY KEY,
  user_id TEXT NULL REFERENCES users(id) ON DELETE CASCADE,
  owner_type TEXT NOT NULL,
  owner_ref TEXT NOT NULL,
  provider TEXT NOT NULL,
  model TEXT,
  status TEXT NOT NULL DEFAULT 'queued',
  provider_job_id TEXT,
  input_r2_key TEXT,
  input_content_type TEXT,
  input_size INTEGER,
  output_r2_key TEXT,
  params_json TEXT,
  error_message TEXT,
  created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT chk_ai_jobs_status CHECK (status IN ('queued','processing','succeeded','failed','canceled')),
  CONSTRAINT chk_ai_jobs_owner_type CHECK (owner_type IN ('user','guest')),
  CONSTRAINT chk_ai_jobs_owner_consistency CHECK (
    (owner_type = 'user' AND user_id IS NOT NULL) OR (owner_type = 'guest' AND user_id IS NULL))
);

INSERT INTO ai_jobs (id, user_id, owner_type, owner_ref, provider, model, status, provider_job_id,
  input_r2_key, input_content_type, input_size, output_r2_key, params_json, error_message,
  created_at, updated_at)
SELECT id, user_id, 'user', user_id, provider, model, status, provider_job_id,
  input_r2_key, input_content_type, input_size, output_r2_key, params_json, error_message,
  created_at, updated_at
FROM ai_jobs_old;

DROP TABLE ai_jobs_old;

CREATE INDEX IF NOT EXISTS idx_ai_jobs_user_created_at ON ai_jobs(user_id, created_at);
CREATE INDEX IF NOT EXISTS idx_ai_jobs_owner_created_at ON ai_jobs(owner_type, owner_ref, created_at);
CREATE INDEX IF NOT EXISTS idx_ai_jobs_provider_job_id ON ai_jobs(provider_job_id);
CREATE INDEX IF NOT EXISTS idx_ai_jobs_status ON ai_jobs(status);
CREATE INDEX IF NOT EXISTS idx_ai_jobs_created_at ON ai_jobs(created_at);
