from enhancer.entrypoints import http_handler
from enhancer.http.routes import fallback

# It serves no operation of its own, so there is nothing for the origin check to protect.
handler = http_handler(fallback.router, verify_origin=False)
