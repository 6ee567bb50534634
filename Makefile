# The two commands of the README: `make run` and `make test`. Everything else is a helper they call.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-dev

.PHONY: pip-audit run test install lint typecheck migrate demo bench bench-seed bench-transitions bench-pdfs bench-pdfs-worker bench-scale graph messages lock clean

$(STAMP): requirements/dev.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.lock
	touch $(STAMP)

install: $(STAMP)

# Embedded default: SQLite file under var/, Celery tasks run eagerly, e-mail to the console, demo accounts.
run: export DEBUG ?= true
run: export DEMO_MODE ?= true
run: install
	mkdir -p $(or $(VAR_DIR),var)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py load_reference --verbosity 0
	$(PY) manage.py generate_demo_certificates
	$(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:8000

# The whole suite. Against PostgreSQL and Redis when DATABASE_URL / CELERY_BROKER_URL are set (as in CI);
# tests that need them skip with their reason elsewhere, and fail instead when REQUIRE_SERVICES=1.
test: install
	SECRET_KEY="$${SECRET_KEY:-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')}" $(PY) -m pytest

# Known vulnerabilities in requirements/dev.lock (.ci/pip-audit-ignore.txt lists accepted ones, each with its reason).
pip-audit: install
	$(PY) .ci/pip_audit.py

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: install
	DEBUG=true $(VENV)/bin/mypy .

# Benchmarks (not tests): seeding speed and transition throughput. BENCH_DOSSIERS sets the size.
BENCH_DOSSIERS ?= 20000
bench: bench-seed bench-transitions bench-pdfs
bench-seed: install
	DEBUG=true $(PY) bench/seed_scale.py --dossiers $(BENCH_DOSSIERS)
# DEBUG off (the script sets a throw-away SECRET_KEY): Django's query log is not part of the figures.
bench-transitions: install
	$(PY) bench/transitions.py
bench-pdfs: install
	DEBUG=true $(PY) bench/pdfs.py
# Needs a Redis: CELERY_BROKER_URL=redis://127.0.0.1:6379/9 make bench-pdfs-worker
bench-pdfs-worker: install
	DEBUG=true $(PY) bench/pdfs.py --worker --concurrency $(or $(BENCH_CONCURRENCY),2)

# Load benchmark at 10,000 and N dossiers against PostgreSQL (bench/README.md): writes bench/results/scale-<N>.*
# BENCH_N (2350000), BENCH_SMALL (10000), BENCH_CONCURRENCY (4), BENCH_REQUESTS (40), BENCH_WORKERS (2), ...
bench-scale: install
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/pfmg_bench_scale} $(PY) bench/bench_scale.py

# The state machine's graph, kept in docs/.
graph: install
	DEBUG=true $(PY) manage.py graph_transitions prescriptions.Dossier > docs/dossier-states.dot

# The English translation: extract the French msgids into locale/en/, then compile the .mo (committed; needs gettext).
messages: install
	DEBUG=true $(PY) manage.py makemessages -l en --ignore=$(VENV) --ignore=bench --ignore=test-artifacts --no-location
	DEBUG=true $(PY) manage.py compilemessages --ignore=$(VENV)

# Re-pin dependencies after editing pyproject.toml (needs `pip install uv`).
lock:
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements/base.lock
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements/dev.lock

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache
