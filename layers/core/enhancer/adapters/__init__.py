"""Adapters: the outside world (AWS, SQL, providers) behind small interfaces."""
