from enhancer.entrypoints import http_handler
from enhancer.http.routes.enhancement import models

handler = http_handler(models.router)
