from enhancer.entrypoints import http_handler
from enhancer.http.routes.jobs import cancel

handler = http_handler(cancel.router)
