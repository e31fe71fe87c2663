from enhancer.http.app import lambda_handler
from enhancer.http.routes import image_proxy

handler = lambda_handler(image_proxy.router)
