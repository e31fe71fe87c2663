"""`python -m local` (what `make dev` runs): the whole product on http://127.0.0.1:8787, no Docker, no AWS."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from local.fake_replicate import FakeReplicate

ROOT = Path(__file__).resolve().parent.parent


def _load_dotenv() -> None:
    """A `.env` file may add defaults; the real environment always wins."""
    from dotenv import dotenv_values

    for name, value in dotenv_values(ROOT / ".env").items():
        if value is not None:
            os.environ.setdefault(name, value)


LOCAL_SECRET_PARAMETER = "/enhancer/local/owner-key-secret"  # noqa: S105 - a name, not a value


def _use_local_owner_key_secret(folder: Path) -> None:
    """The functions read the owner-key secret from SSM as in AWS. The value is kept in a file so guests
    keep their identity (and their files in SQLite) across restarts."""
    import secrets

    from local.aws import put_secret_parameter

    secret_file = folder / "owner-key-secret"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_hex(32))
        secret_file.chmod(0o600)
    put_secret_parameter(LOCAL_SECRET_PARAMETER, secret_file.read_text().strip())
    os.environ["OWNER_KEY_SECRET_PARAMETER"] = LOCAL_SECRET_PARAMETER


def _use_fake_replicate(public_url: str) -> FakeReplicate:
    """LOCAL_REPLICATE=fake: Replicate is local/fake_replicate.py, its webhooks coming back through the gateway
    unless LOCAL_REPLICATE_WEBHOOKS=0 (then the workflow polls). Before the settings load: it sets them."""
    from local.fake_replicate import use_fake_replicate

    return use_fake_replicate(public_url if os.environ.get("LOCAL_REPLICATE_WEBHOOKS", "1") != "0" else None)


def _use_development_billing() -> None:
    """Without a Stripe key, checkout goes to the development checkout page (local/dev_checkout.py): its price
    tables and webhook secret default to development values so the whole upgrade flow works out of the box.
    With a key (a test key and `stripe listen`), the real ones must be set."""
    if os.environ.get("STRIPE_SECRET") or os.environ.get("STRIPE_SECRET_PARAMETER"):
        return
    from enhancer.domain.billing import PACK_SIZES, PAID_PLANS
    from local.stripe_events import DEVELOPMENT_WEBHOOK_SECRET

    os.environ.setdefault("STRIPE_WEBHOOK_SECRET", DEVELOPMENT_WEBHOOK_SECRET)
    os.environ.setdefault("PRICING_TABLE", json.dumps({p.value: f"price_dev_{p.value}" for p in PAID_PLANS}))
    os.environ.setdefault("PRICING_TABLE_ANNUAL",
                          json.dumps({p.value: f"price_dev_{p.value}_annual" for p in PAID_PLANS}))
    os.environ.setdefault("CREDITS_PRICING_TABLE",
                          json.dumps({str(n): f"price_dev_credits_{n}" for n in PACK_SIZES}))
    os.environ.setdefault("PUBLIC_ENABLE_CREDITS_CTA", "true")


def _start_workflow() -> str:
    """The job workflow in moto (local/workflow.py); it sets STATE_MACHINE_ARN, before any handler loads."""
    from local.workflow import WorkflowNotInTemplate, start_workflow

    try:
        return start_workflow()
    except WorkflowNotInTemplate as exc:
        raise SystemExit(f"local stack: {exc}") from None


def main() -> int:
    _load_dotenv()
    from local.aws import provision, start_moto, use_fake_credentials

    use_fake_credentials()
    os.environ.setdefault("ENVIRONMENT", "development")
    os.environ.setdefault("TABLE_NAME", "enhancer-local")
    os.environ.setdefault("BUCKET_NAME", "enhancer-local-images")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{ROOT / '.local' / 'enhancer.db'}")
    os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "enhancer-local")
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8787"))

    aws = start_moto()
    os.environ["AWS_ENDPOINT_URL"] = aws.endpoint
    state_file = Path(os.environ.get("LOCAL_STATE_FILE", ROOT / ".local" / "stack.json"))
    state_file.parent.mkdir(parents=True, exist_ok=True)
    if not (os.environ.get("OWNER_KEY_SECRET") or os.environ.get("OWNER_KEY_SECRET_PARAMETER")):
        _use_local_owner_key_secret(state_file.parent)
    if os.environ["ENVIRONMENT"] == "development":
        _use_development_billing()
    fake_replicate = None
    if os.environ.get("LOCAL_REPLICATE") == "fake":
        fake_replicate = _use_fake_replicate(f"http://{host}:{port}")

    from enhancer.adapters import sql
    from enhancer.config import load_enhancement_settings, load_settings

    settings = load_settings()  # a bad variable stops the stack here, with its name
    enhancement = load_enhancement_settings()  # every group the stack's functions load, checked at start
    provision(settings.table_name, settings.bucket_name)
    state_machine_arn = _start_workflow()
    sql.prepare(settings.database_url)
    sql.migrate_and_check(settings.database_url, apply=True)

    from enhancer.adapters.providers import describe_provider
    from local.gateway import Gateway, load_handler, serve
    from local.template import HttpRoute, http_routes

    routes = http_routes()
    handlers = {r.function_id: load_handler(r.code_uri, r.handler, r.function_id) for r in routes}
    from local import floor

    # The load test's floor (load/): an empty route through this gateway and the functions' handler pipeline.
    routes.append(HttpRoute("FloorFunction", "GET", floor.FLOOR_PATH, ROOT / "local", "floor.handler"))
    handlers["FloorFunction"] = floor.handler
    if settings.is_development:
        from local import dev_login

        routes.append(HttpRoute("DevLoginFunction", "ANY", "/api/dev/login", ROOT / "local", "dev_login.handler"))
        handlers["DevLoginFunction"] = dev_login.handler
        from enhancer.adapters.dev_checkout import CHECKOUT_PATH, PORTAL_PATH
        from local import dev_checkout

        for path in (CHECKOUT_PATH, PORTAL_PATH):
            routes.append(HttpRoute("DevCheckoutFunction", "ANY", path, ROOT / "local", "dev_checkout.handler"))
        handlers["DevCheckoutFunction"] = dev_checkout.handler
    gateway = Gateway(routes, handlers, ROOT / "web", upload_origin=aws.endpoint,
                      client_ip_header=os.environ.get("GATEWAY_CLIENT_IP_HEADER") or None,
                      openapi_document=ROOT / "docs" / "openapi.json")
    server = serve(gateway, host, port, quiet=os.environ.get("GATEWAY_QUIET") == "1")

    url = f"http://{host}:{server.server_address[1]}"
    # Where tools and tests find this stack's endpoints (the AWS one changes on every start).
    state_file.write_text(json.dumps({"url": url, "awsEndpoint": aws.endpoint, "table": settings.table_name,
                                      "bucket": settings.bucket_name, "databaseUrl": settings.database_url,
                                      **({"fakeReplicate": fake_replicate.url} if fake_replicate else {})}))
    print(f"""
  AI image enhancer — local stack ({settings.environment})
  URL         {url}
  API         {url}/openapi.json (OpenAPI 3.1, docs/openapi.json)
  Functions   {len(handlers)} ({", ".join(sorted(handlers))})
  AWS         moto at {aws.endpoint} (table {settings.table_name}, bucket {settings.bucket_name})
  Database    {settings.database_url}
  Secret      owner keys from SSM {settings.owner_key_secret_parameter or "(OWNER_KEY_SECRET)"}
  Provider    {describe_provider(enhancement)}{f" (fake Replicate at {fake_replicate.url})" if fake_replicate else ""}
  Workflow    {state_machine_arn}
  Sign in     curl -i -X POST {url}/api/dev/login -H 'Origin: {url}' \\
                -H 'X-CSRF-Token: dev' -b 'csrf_token=dev' -H 'Content-Type: application/json' \\
                -d '{{"email": "you@example.com", "plan": "pro"}}'
              then send the session_id cookie it sets.
  Stop        Ctrl+C
""", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    server.shutdown()
    if fake_replicate:
        fake_replicate.stop()
    aws.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
