from enhancer.entrypoints import http_handler
from enhancer.http.routes.auth import logout

handler = http_handler(logout.router)
