"""The load test (`make load`, `python -m load`): locust headless against the local stack, then the books checked.

    locustfile.py   the simulated guests and users and what each task expects of a route
    journal.py      what every simulated owner was charged and got, one JSON line each, for the checker
    books.py        after the run: the charges against each owner's usage and credits, the caps, the images
    stats.py        locust's CSV as a per-route table, with ratios against the floor (GET /_local/floor)
    __main__.py     the runner: a stack of its own (echo provider) unless --host, locust as a subprocess
"""
