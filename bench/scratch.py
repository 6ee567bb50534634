"""What the benchmarks share: a Django set up on scratch storage, removed afterwards.

Without DATABASE_URL a throw-away SQLite file under /tmp (var/db.sqlite3 is never touched); with it, only a
database whose name contains "bench" unless --any-database. Media go to a throw-away folder unless MEDIA_ROOT
is set."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: the project's packages must be importable


def setup_django(*, any_database: bool, scratch: list[Path]) -> None:
    """Point Django at a throw-away SQLite file unless DATABASE_URL is set, and at throw-away media unless
    MEDIA_ROOT is set (seeded documents are files); ``scratch`` collects what to delete afterwards."""
    if not os.environ.get("MEDIA_ROOT"):
        media = Path(tempfile.mkdtemp(prefix="pfmg-bench-media-", dir="/tmp"))
        scratch.append(media)
        os.environ["MEDIA_ROOT"] = str(media)
    own_database = not os.environ.get("DATABASE_URL")
    if own_database:
        fd, name = tempfile.mkstemp(prefix="pfmg-bench-", suffix=".sqlite3", dir="/tmp")
        os.close(fd)
        scratch += [Path(name + end) for end in ("", "-journal", "-wal", "-shm")]
        os.environ["DATABASE_URL"] = f"sqlite:///{name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pfmg.settings")
    import django

    django.setup()
    from django.db import connection

    database = str(connection.settings_dict["NAME"])
    if not own_database and "bench" not in database and not any_database:
        sys.exit(
            f"Refusing to write to {database!r}: use a database whose name contains 'bench', or --any-database."
        )


def remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
