"""Use cases. They decide; they talk to ports, never to HTTP."""
