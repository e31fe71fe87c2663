from enhancer.entrypoints import http_handler
from enhancer.http.routes import usage

handler = http_handler(usage.router)
