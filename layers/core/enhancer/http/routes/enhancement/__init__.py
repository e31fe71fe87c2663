"""Enhancing images: POST /api/ai-image/generate, POST /api/ai-image/uploads, GET /api/ai-image/models.

One module per route, each with its own `router`; nothing is imported here, so a function loads only its route.
"""
