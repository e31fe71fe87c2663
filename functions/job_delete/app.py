from enhancer.entrypoints import http_handler
from enhancer.http.routes.jobs import delete

handler = http_handler(delete.router)
