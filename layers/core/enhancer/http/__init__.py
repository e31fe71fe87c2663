"""The FastAPI side: app factory, envelope, security, identity, rate limits, one router per route."""
