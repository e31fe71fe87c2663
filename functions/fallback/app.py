from enhancer.http.app import lambda_handler
from enhancer.http.routes import fallback

# It serves no operation of its own, so there is nothing for the origin check to protect.
handler = lambda_handler(fallback.router, verify_origin=False)
