from enhancer.entrypoints import http_handler
from enhancer.http.routes import images as image_proxy

handler = http_handler(image_proxy.router)
