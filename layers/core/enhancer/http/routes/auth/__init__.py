"""Sign-in through Cognito's managed login: login.py, callback.py, logout.py, me.py, account.py. Nothing is
imported here (see `http/routes`)."""
