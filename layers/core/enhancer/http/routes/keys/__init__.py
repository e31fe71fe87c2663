"""Personal API keys: POST/GET /api/keys (create.py, listing.py), DELETE /api/keys/{keyId} (revoke.py). Session
cookie only: a key cannot manage keys. Nothing is imported here (see `http/routes`)."""
