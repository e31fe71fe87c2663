from enhancer.entrypoints import http_handler
from enhancer.http.routes.billing import portal

handler = http_handler(portal.router)
