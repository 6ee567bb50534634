"""Configuration from the environment: production refuses to start insecurely and passes the deploy checks."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import redis
import yaml
from django.conf import settings as django_settings

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DEBUG",
            "SECRET_KEY",
            "DATABASE_URL",
            "CELERY_BROKER_URL",
            "ALLOWED_HOSTS",
            "SECURE_SSL_REDIRECT",
            "DEMO_MODE",
            "CACHE_URL",
            "REDIS_URL",
            "DATABASE_REPLICA_URL",
            "DISABLE_SERVER_SIDE_CURSORS",
        )
        and not k.startswith("AWS_")
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_a_weak_secret_key():
    result = manage("check", SECRET_KEY="changeme")
    assert result.returncode != 0
    assert "too weak" in result.stderr


@pytest.mark.parametrize(
    "scale",
    [
        {},
        # Past one machine: shared cache, files in a bucket, a read replica behind PgBouncer.
        {
            "CACHE_URL": "redis://127.0.0.1:6379/1",
            "AWS_STORAGE_BUCKET_NAME": "pfmg-files",
            "AWS_S3_ENDPOINT_URL": "https://s3.example.org",
            "DATABASE_REPLICA_URL": "postgres://postgres@127.0.0.1:5432/postgres",
            "DISABLE_SERVER_SIDE_CURSORS": "true",
        },
    ],
    ids=["one-machine", "several-machines"],
)
def test_production_settings_pass_the_deploy_checks_with_no_warning(scale):
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="pfmg.example.org",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        **scale,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_embedded_default_needs_nothing_set_but_debug(tmp_path):
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.DATABASES['default']['ENGINE'], "
        "s.CELERY_TASK_ALWAYS_EAGER, s.EMAIL_BACKEND)",
        DEBUG="true",
        VAR_DIR=str(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == [
        "django.db.backends.sqlite3",
        "True",
        "django.core.mail.backends.console.EmailBackend",
    ]


def test_migrations_are_complete():
    result = manage("makemigrations", "--check", "--dry-run", DEBUG="true")
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_harden_cookies_transport_framing_and_content():
    result = manage(
        "shell",
        "-c",
        "import json; from django.conf import settings as s; print(json.dumps({"
        "'cookies': [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.LANGUAGE_COOKIE_SECURE, "
        "s.SESSION_COOKIE_HTTPONLY], "
        "'hsts': [s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_SSL_REDIRECT], "
        "'frames': [s.X_FRAME_OPTIONS, s.CONTENT_SECURITY_POLICY['DIRECTIVES']['frame-ancestors']], "
        "'referrer': s.SECURE_REFERRER_POLICY, 'nosniff': s.SECURE_CONTENT_TYPE_NOSNIFF, "
        "'csp': s.CONTENT_SECURITY_POLICY['DIRECTIVES'], 'middleware': s.MIDDLEWARE}))",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="pfmg.example.org",
    )
    assert result.returncode == 0, result.stderr
    config = json.loads(result.stdout.strip().splitlines()[-1])
    assert config["cookies"] == [True, True, True, True]
    assert config["hsts"][0] >= 31536000 and config["hsts"][1:] == [True, True]
    assert config["frames"] == ["DENY", ["'none'"]]
    assert config["referrer"] == "same-origin" and config["nosniff"] is True
    assert config["csp"]["default-src"] == ["'self'"]
    assert not any("unsafe" in source for sources in config["csp"].values() for source in sources)
    assert "csp.middleware.CSPMiddleware" in config["middleware"]
    assert "pfmg.middleware.NoStoreForAuthenticatedMiddleware" in config["middleware"]


def _settings_json(expression: str, **env: str) -> dict:
    script = f"import json; from django.conf import settings as s; print(json.dumps({expression}))"
    result = manage("shell", "-c", script, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


PRODUCTION = {"SECRET_KEY": secrets.token_urlsafe(50), "ALLOWED_HOSTS": "pfmg.example.org"}


def test_the_embedded_default_keeps_sessions_in_the_database_and_files_on_disk(tmp_path):
    config = _settings_json(
        "{'cache': s.CACHES['default']['BACKEND'], 'sessions': s.SESSION_ENGINE, 'files': s.STORAGES['default']}",
        DEBUG="true",
        VAR_DIR=str(tmp_path),
    )
    # A local-memory cache is per process: the sessions must then not be read through it.
    assert config == {
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "sessions": "django.contrib.sessions.backends.db",
        "files": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    }


@pytest.mark.redis
def test_with_cache_url_the_cache_is_redis_and_sessions_are_read_through_it():
    url = django_settings.CELERY_BROKER_URL  # the Redis the tests were given
    key = f"settings-test-{secrets.token_hex(4)}"
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings as s; from django.core.cache import cache; "
        f"cache.set({key!r}, 'shared', 60); "
        "print(s.CACHES['default']['BACKEND'], s.SESSION_ENGINE, cache.make_key(" + repr(key) + "))",
        CACHE_URL=url,
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    backend, sessions, stored_key = result.stdout.split()[-3:]
    assert backend == "django.core.cache.backends.redis.RedisCache"
    assert sessions == "django.contrib.sessions.backends.cached_db"
    # Written by another process, found in Redis: any replica reads it.
    raw = redis.Redis.from_url(url)
    assert raw.get(stored_key) is not None
    raw.delete(stored_key)


def test_redis_url_is_the_cache_when_cache_url_is_not_set():
    config = _settings_json("s.CACHES['default']", REDIS_URL="redis://cache.internal:6379/1", **PRODUCTION)
    assert config["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert config["LOCATION"] == "redis://cache.internal:6379/1"


def test_production_serves_static_files_hashed_and_compressed_by_whitenoise():
    config = _settings_json("{'static': s.STORAGES['staticfiles'], 'middleware': s.MIDDLEWARE}", **PRODUCTION)
    assert config["static"] == {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}
    # Right after SecurityMiddleware, before anything that reads the session.
    assert config["middleware"][:2] == [
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]


S3 = {"AWS_STORAGE_BUCKET_NAME": "pfmg-files", "AWS_S3_ENDPOINT_URL": "https://s3.gra.io.cloud.ovh.net"}


def test_a_bucket_name_puts_every_file_in_a_private_s3_compatible_bucket():
    config = _settings_json("s.STORAGES['default']", AWS_S3_REGION_NAME="gra", **S3, **PRODUCTION)
    assert config["BACKEND"] == "storages.backends.s3.S3Storage"
    options = config["OPTIONS"]
    assert options["bucket_name"] == "pfmg-files"
    assert options["endpoint_url"] == "https://s3.gra.io.cloud.ovh.net"
    assert options["region_name"] == "gra"
    # Served only by the portal's checked views; a stored file is never replaced by another of the same name.
    assert options["default_acl"] is None and options["querystring_auth"] is True
    assert options["file_overwrite"] is False
    assert 0 < options["max_memory_size"] <= 10_000_000  # a 30 MB report read for download spills to disk
    assert "access_key" not in options and "secret_key" not in options  # boto3's chain, never the settings


def test_the_s3_storage_is_built_from_those_settings():
    result = manage(
        "shell",
        "-c",
        "from django.core.files.storage import default_storage as d; d._setup(); w = d._wrapped; "
        "print(type(w).__name__, w.bucket_name, w.file_overwrite)",
        **S3,
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-3:] == ["S3Storage", "pfmg-files", "False"]


def test_an_endpoint_without_a_bucket_is_refused():
    result = manage("check", AWS_S3_ENDPOINT_URL="https://s3.example.org", **PRODUCTION)
    assert result.returncode != 0
    assert "AWS_STORAGE_BUCKET_NAME" in result.stderr


REPLICA_SCRIPT = """
import json
import re
from django.conf import settings as s
from django.db import router
from pfmg.db import replica_reads
from prescriptions.models import Dossier
out = {"outside": Dossier.objects.all().db, "write": router.db_for_write(Dossier)}
with replica_reads():
    out["inside"] = Dossier.objects.all().db
    out["write_inside"] = router.db_for_write(Dossier)
out["migrate_replica"] = router.allow_migrate("replica", "prescriptions")
out["cursors"] = [s.DATABASES[a]["DISABLE_SERVER_SIDE_CURSORS"] for a in ("default", "replica")]
print(json.dumps(out))
"""


def test_reads_go_to_the_replica_only_when_asked_and_writes_never():
    result = manage(
        "shell",
        "-c",
        REPLICA_SCRIPT,
        DATABASE_URL="postgres://pfmg@db:5432/pfmg",
        DATABASE_REPLICA_URL="postgres://pfmg@replica:5432/pfmg",
        DISABLE_SERVER_SIDE_CURSORS="true",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "outside": "default",
        "write": "default",
        "inside": "replica",
        "write_inside": "default",
        "migrate_replica": False,
        "cursors": [True, True],  # PgBouncer in transaction pooling
    }


def test_the_research_export_reads_the_replica(tmp_path):
    """The primary is an empty SQLite file, the replica a PostgreSQL nobody listens to: the export fails on the
    replica's connection, so that is where it read."""
    result = manage(
        "export_research",
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}",
        DATABASE_REPLICA_URL="postgres://nobody@127.0.0.1:9/none",
        DEBUG="true",
    )
    assert result.returncode != 0
    assert "127.0.0.1" in result.stderr and "port 9" in result.stderr, result.stderr
    assert "no such table" not in result.stderr


def _compose_default(value) -> str:
    """``${NAME:-default}`` as docker compose reads it with NAME unset."""
    match = re.fullmatch(r"\$\{\w+:-([^}]*)\}", str(value))
    return match.group(1) if match else str(value)


def test_compose_runs_replicas_behind_one_entry_point_after_one_migration():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert int(_compose_default(services["web"]["deploy"]["replicas"])) > 1
    assert int(_compose_default(services["worker"]["deploy"]["replicas"])) > 1
    assert services["beat"]["deploy"]["replicas"] == 1  # never two beats
    # Only the entry point is published; the replicas are reached through it.
    published = [name for name, service in services.items() if service.get("ports")]
    assert published == ["proxy"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in services["proxy"]["volumes"]}
    assert mounted["./deploy/nginx.conf"] == "/etc/nginx/conf.d/default.conf"
    assert "server web:8000 resolve" in (ROOT / "deploy" / "nginx.conf").read_text()
    # Migrations run once, before any web or worker replica starts; nothing else migrates.
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "migrate" not in str(services[name].get("command", ""))
    assert "migrate --noinput" in str(services["migrate"]["command"])
    # Sessions and cache shared through Redis; a bucket when named.
    environment = services["web"]["environment"]
    assert _compose_default(environment["CACHE_URL"]).startswith("redis://redis:6379/")
    assert "AWS_STORAGE_BUCKET_NAME" in environment
