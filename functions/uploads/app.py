from enhancer.entrypoints import http_handler
from enhancer.http.routes.enhancement import uploads

handler = http_handler(uploads.router)
