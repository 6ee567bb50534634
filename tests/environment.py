"""Loaded as a pytest plugin (``-p tests.environment``) before Django's settings are read.

The test client and the live server speak plain HTTP: without this the production default would redirect
every request to HTTPS, and the live server's middleware is built before any per-test override applies."""

import os

os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
