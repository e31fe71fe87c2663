from enhancer.entrypoints import http_handler
from enhancer.http.routes.keys import listing

handler = http_handler(listing.router)
