from enhancer.http.app import lambda_handler
from enhancer.http.routes import uploads

handler = lambda_handler(uploads.router)
