from enhancer.entrypoints import http_handler
from enhancer.http.routes.billing import credit_checkout

handler = http_handler(credit_checkout.router)
