from enhancer.entrypoints import http_handler
from enhancer.http.routes.jobs import replicate_webhook

# Signed by Replicate, so no origin or CSRF check (the route verifies the signature).
handler = http_handler(replicate_webhook.router, verify_origin=False)
