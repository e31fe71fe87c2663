from enhancer.entrypoints import http_handler
from enhancer.http.routes.auth import me

handler = http_handler(me.router)
