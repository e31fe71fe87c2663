from enhancer.http.app import lambda_handler
from enhancer.http.routes import usage

handler = lambda_handler(usage.router)
