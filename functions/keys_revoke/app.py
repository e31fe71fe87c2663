from enhancer.entrypoints import http_handler
from enhancer.http.routes.keys import revoke

handler = http_handler(revoke.router)
