from enhancer.http.app import lambda_handler
from enhancer.http.routes import models

handler = lambda_handler(models.router)
