from enhancer.entrypoints import http_handler
from enhancer.http.routes.billing import webhook

# Signed by Stripe, so no origin or CSRF check (the route verifies the signature).
handler = http_handler(webhook.router, verify_origin=False)
