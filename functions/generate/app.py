from enhancer.http.app import lambda_handler
from enhancer.http.routes import generate

handler = lambda_handler(generate.router)
