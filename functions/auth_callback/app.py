from enhancer.entrypoints import http_handler
from enhancer.http.routes.auth import callback

handler = http_handler(callback.router)
