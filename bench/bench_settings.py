"""Settings of the server ``bench/bench_scale.py`` starts: the portal's own, with the bench-only urlconf.

Only the benchmark uses this module (``DJANGO_SETTINGS_MODULE=bench_settings`` with bench/ on the path): the
product's URLs never include the bare endpoint."""

from pfmg.settings import *  # noqa: F403 - the portal's settings, unchanged but for the urlconf

ROOT_URLCONF = "bench_urls"
