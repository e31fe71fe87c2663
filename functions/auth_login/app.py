from enhancer.entrypoints import http_handler
from enhancer.http.routes.auth import login

handler = http_handler(login.router)
