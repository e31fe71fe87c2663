"""Jobs: POST/GET /api/ai-image/jobs (create.py, listing.py), GET/DELETE /api/ai-image/jobs/{id} (item.py,
delete.py), POST /api/ai-image/jobs/{id}/cancel (cancel.py), and Replicate's webhook (replicate_webhook.py).
Nothing is imported here (see `http/routes`)."""
