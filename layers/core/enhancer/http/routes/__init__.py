"""The API's routes, grouped by resource; every route is an `APIRouter` of its own and every function includes
exactly one (docs/architecture.md §2).

    enhancement/   /api/ai-image/…: generate.py (POST generate), uploads.py (POST uploads), models.py (GET models)
    images.py      /r2-ai/{key+}: the image proxy (GET, HEAD)
    usage.py       /api/ai-image/usage (GET)
    fallback.py    every method and path no route serves (405 with Allow, 404)

A resource with several routes is a package with one module per route, so a function imports its own route's
dependencies and no other's (the models function never loads the generate use case). Package `__init__`
modules stay empty for the same reason. The paths and methods are also listed in `route_table.API_ROUTES`,
which the fallback reads without importing any route; `tests/unit/test_unit_route_table.py` holds the two equal.
"""
