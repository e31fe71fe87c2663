-- Jobs may belong to guests: owner_type/owner_ref identify the owner; owner_ref of a guest is its
-- owner key (HMAC of the guest cookie), never the cookie itself. PostgreSQL alters in place what SQLite rebuilds.
ALTER TABLE ai_jobs ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE ai_jobs ADD COLUMN owner_type TEXT;
ALTER TABLE ai_jobs ADD COLUMN owner_ref TEXT;
UPDATE ai_jobs SET owner_type = 'user', owner_ref = user_id;
ALTER TABLE ai_jobs ALTER COLUMN owner_type SET NOT NULL;
ALTER TABLE ai_jobs ALTER COLUMN owner_ref SET NOT NULL;
ALTER TABLE ai_jobs
  ADD CONSTRAINT chk_ai_jobs_status CHECK (status IN ('queued','processing','succeeded','failed','canceled')),
  ADD CONSTRAINT chk_ai_jobs_owner_type CHECK (owner_type IN ('user','guest')),
  ADD CONSTRAINT chk_ai_jobs_owner_consistency CHECK (
    (owner_type = 'user' AND user_id IS NOT NULL) OR (owner_type = 'guest' AND user_id IS NULL));

CREATE INDEX IF NOT EXISTS idx_ai_jobs_owner_created_at ON ai_jobs(owner_type, owner_ref, created_at);
CREATE INDEX IF NOT EXISTS idx_ai_jobs_provider_job_id ON ai_jobs(provider_job_id);
CREATE INDEX IF NOT EXISTS idx_ai_jobs_status ON ai_jobs(status);
CREATE INDEX IF NOT EXISTS idx_ai_jobs_created_at ON ai_jobs(created_at);
