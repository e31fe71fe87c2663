# Two commands matter: `make dev` and `make test`. Every other target is a piece of those two.
SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
VENV := .venv
TOOLS := .venv-tools
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
SYSTEM_PACKAGES := libvulkan1 libomp5
TEST_PACKAGES := chromium postgresql
export PYTHONDONTWRITEBYTECODE := 1
DATABASE_ENGINES := sqlite-efs aurora-postgresql
# Placeholder ids for the parameters without defaults, so cfn-lint can resolve every condition.
LINT_PARAMETERS := Environment=production VpcId=vpc-0123456789abcdef0 SubnetIdA=subnet-0123456789abcdef0 \
  SubnetIdB=subnet-0123456789abcdef1 SubnetsHaveInternetEgress=true
# The page on CloudFront with everything on (distribution, WAF, domain), placeholders for the certificate and zone.
WEB_LINT_PARAMETERS := WebDistribution=true WebFirewall=true WebDomainName=example.com \
  WebCertificateArn=arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000 \
  WebHostedZoneId=Z0123456789ABCDEFGHIJ

.PHONY: dev test setup system-deps test-deps lint lint-python lint-types lint-template build bench load fuzz smoke deploy-web openapi stripe-event lock migrate db-check clean

dev: setup ## set everything up, then serve the product at http://127.0.0.1:$${PORT:-8787}
	$(PY) -m local

test: setup test-deps lint ## set everything up, then run every test
	$(PY) -m pytest

setup: system-deps $(VENV)/.installed $(TOOLS)/.installed

# Debian packages, installed only when missing (and only as root): the local engine's for everything, the
# browser tests' (Chromium) and PostgreSQL's server (the suites that run on both SQL engines) for `make test` alone.
define install-debian-packages
	@missing=$$(for p in $(1); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages (install them as root): $$missing"; exit 1; fi; \
	fi
endef

system-deps:
	$(call install-debian-packages,$(SYSTEM_PACKAGES))

test-deps:
	$(call install-debian-packages,$(TEST_PACKAGES))

$(VENV)/.installed: requirements/dev.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q uv==$(UV_VERSION)
	$(UV) pip sync -q --python $(PY) requirements/dev.lock
	$(UV) pip install -q --python $(PY) --no-deps -e .
	touch $@

# SAM CLI pins its own boto3 and pydantic, so it lives in a virtual environment of its own.
$(TOOLS)/.installed: requirements/tools.lock $(VENV)/.installed
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(UV) pip sync -q --python $(TOOLS)/bin/python requirements/tools.lock
	touch $@

lint: lint-python lint-types lint-template build

lint-python: setup
	$(VENV)/bin/ruff check .

lint-types: setup ## mypy, strict, on the package every function ships (settings in pyproject.toml)
	$(VENV)/bin/mypy

lint-template: setup
	$(TOOLS)/bin/cfn-lint template.yaml
	$(TOOLS)/bin/sam validate --lint --template-file template.yaml
	@# The generated resources too: a dependency cycle shows only there (ops/sam_transform.py).
	$(TOOLS)/bin/python ops/sam_transform.py template.yaml .aws-sam/transformed.json
	$(TOOLS)/bin/cfn-lint .aws-sam/transformed.json
	@# Each DatabaseEngine on its own, with the conditions resolved as a production deploy resolves them.
	for engine in $(DATABASE_ENGINES); do \
	  $(TOOLS)/bin/cfn-lint --parameters DatabaseEngine=$$engine $(LINT_PARAMETERS) -- .aws-sam/transformed.json \
	    || exit 1; done
	@# The web options on (off above, by their defaults): the distribution, its WAF and its domain.
	$(TOOLS)/bin/cfn-lint --parameters $(LINT_PARAMETERS) $(WEB_LINT_PARAMETERS) -- .aws-sam/transformed.json
	@# URI: the Lambda ARNs are DefinitionSubstitutions (`${JobStartFunctionArn}`), filled in at deploy.
	$(TOOLS)/bin/statelint --ignore=URI statemachine/*.asl.json

build: setup ## sam build: the layer and every function, as deployed
	@# Built once per DatabaseEngine (the Aurora build is checked, the SQLite one is what ships by default).
	$(TOOLS)/bin/sam build --template-file template.yaml --build-dir .aws-sam/build-aurora \
	  --parameter-overrides DatabaseEngine=aurora-postgresql
	$(TOOLS)/bin/sam build --template-file template.yaml --build-dir .aws-sam/build
	@# Lambda's code directories are read-only and sam zips files dated 1980, so ship bytecode that is
	@# never revalidated; without it every cold start recompiles the layer (about 2x slower).
	$(PYTHON) -m compileall -q -j0 --invalidation-mode unchecked-hash .aws-sam/build

bench: setup ## performance budgets as ratios, and the AWS cost per 1,000 enhancements and jobs (bench/README.md)
	$(PY) -m bench

LOAD_USERS ?= 20
LOAD_SPAWN_RATE ?= 5
LOAD_TIME ?= 30s

load: setup ## locust against a local stack of its own (echo provider): p50/p95/p99 per route against the floor, then the books; LOAD_USERS, LOAD_SPAWN_RATE, LOAD_TIME, LOAD_ARGS (e.g. --host URL)
	$(PY) -m load --users $(LOAD_USERS) --spawn-rate $(LOAD_SPAWN_RATE) --time $(LOAD_TIME) $(LOAD_ARGS)

FUZZ_EXAMPLES ?= 200

fuzz: setup ## schemathesis over docs/openapi.json on a local stack of its own, FUZZ_EXAMPLES per operation, then the stateful links
	$(PY) -m tests.fuzz --examples $(FUZZ_EXAMPLES)

smoke: setup ## post-deploy smoke check against SMOKE_URL (default: the local stack); SMOKE_ARGS adds options
	$(PY) -m ops.smoke --url $${SMOKE_URL:-http://127.0.0.1:$${PORT:-8787}} $(SMOKE_ARGS)

deploy-web: $(VENV)/.installed ## upload web/ to the stack's web bucket and invalidate its CloudFront distribution
	@# The stack: STACK, else CONFIG_ENV's stack_name in samconfig.toml; AWS_PROFILE / AWS_REGION as for any client.
	$(PY) -m ops.deploy_web $(if $(STACK),--stack "$(STACK)") $(if $(CONFIG_ENV),--config-env "$(CONFIG_ENV)") \
	  $(if $(DRY_RUN),--dry-run)

openapi: setup ## rewrite docs/openapi.json from the routers (a test fails while it is stale)
	$(PY) -m ops.openapi

stripe-event: setup ## sign the Stripe event in EVENT (a JSON file) and deliver it to the running local stack's webhook
	@test -n "$(EVENT)" || { echo "usage: make stripe-event EVENT=path/to/event.json" >&2; exit 2; }
	$(PY) -m local.stripe_events send "$(EVENT)"

migrate: setup ## apply pending SQL migrations to DATABASE_URL
	$(VENV)/bin/enhancer-db migrate

db-check: setup ## verify the schema post-conditions of DATABASE_URL
	$(VENV)/bin/enhancer-db check

# Regenerate every pin from pyproject.toml; the layer's requirements come from the same resolution.
lock: $(VENV)/.installed
	$(UV) pip compile -q pyproject.toml --extra dev --extra local --no-emit-package opencv-python \
	  --python-version 3.11 -o requirements/dev.lock
	$(UV) pip compile -q pyproject.toml --python-version 3.11 --no-header --no-annotate \
	  --no-emit-package boto3 --no-emit-package botocore --no-emit-package s3transfer -c requirements/dev.lock \
	  -o layers/core/requirements.txt
	printf 'aws-sam-cli==1.170.0\nstatelint==3.1.0\n' | $(UV) pip compile -q - --python-version 3.11 \
	  -o requirements/tools.lock

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .local .pytest_cache
