from enhancer.entrypoints import http_handler
from enhancer.http.routes.jobs import item

handler = http_handler(item.router)
