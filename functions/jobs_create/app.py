from enhancer.entrypoints import http_handler
from enhancer.http.routes.jobs import create

handler = http_handler(create.router)
