"""Configuration from the environment: production refuses to start insecurely and passes the deploy checks."""

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
