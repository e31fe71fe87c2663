-- Completion callbacks (README "Completion callbacks"): the https URL the job's owner named when creating it
-- (checked then, and again before each attempt), and every delivery attempt as JSON text
-- ([{"at", "status" | "error", "ms"}, …]), written by the callback task.
ALTER TABLE ai_jobs ADD COLUMN callback_url TEXT;
ALTER TABLE ai_jobs ADD COLUMN callback_attempts TEXT;
