from enhancer.entrypoints import http_handler
from enhancer.http.routes.billing import plan_checkout

handler = http_handler(plan_checkout.router)
