"""One router module per route; each function serves exactly one of them."""
