from enhancer.entrypoints import http_handler
from enhancer.http.routes.auth import account

handler = http_handler(account.router)
