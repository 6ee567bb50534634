"""Configuration from the environment: production refuses to start insecurely and passes the deploy checks."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

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
        )
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


def test_production_settings_pass_the_deploy_checks_with_no_warning():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="pfmg.example.org",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
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
