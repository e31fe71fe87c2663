from enhancer.entrypoints import http_handler
from enhancer.http.routes.enhancement import generate

handler = http_handler(generate.router)
