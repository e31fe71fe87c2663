from enhancer.entrypoints import http_handler
from enhancer.http.routes.jobs import listing

handler = http_handler(listing.router)
