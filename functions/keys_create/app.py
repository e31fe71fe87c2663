from enhancer.entrypoints import http_handler
from enhancer.http.routes.keys import create

handler = http_handler(create.router)
