-- What the job workflow needs (docs/architecture.md §7): how the job runs, its reservation (to settle or give
-- back exactly what was taken), its execution, its error type, the moments it started, ended or was canceled,
-- and the deadline the sweeper fails it at. Timestamps are ISO-8601 UTC text written by the application.
ALTER TABLE ai_jobs ADD COLUMN mode TEXT CHECK (mode IS NULL OR mode IN ('inline','webhook','poll'));
ALTER TABLE ai_jobs ADD COLUMN reservation_json TEXT;
ALTER TABLE ai_jobs ADD COLUMN cost_tenths INTEGER;
ALTER TABLE ai_jobs ADD COLUMN execution_arn TEXT;
ALTER TABLE ai_jobs ADD COLUMN error_type TEXT;
ALTER TABLE ai_jobs ADD COLUMN started_at TEXT;
ALTER TABLE ai_jobs ADD COLUMN completed_at TEXT;
ALTER TABLE ai_jobs ADD COLUMN canceled_at TEXT;
ALTER TABLE ai_jobs ADD COLUMN deadline_at TEXT;

CREATE INDEX IF NOT EXISTS idx_ai_jobs_status_deadline ON ai_jobs(status, deadline_at);
