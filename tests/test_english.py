"""The English interface: the pages really are in English once chosen, and the translation stays complete.

The source is French (the msgids); locale/en/LC_MESSAGES/django.po holds the English and django.mo its
compiled form, committed so that `make run` works without gettext. After adding or changing a translatable
string: `make messages`, translate every new entry in the .po (no empty msgstr, no `#, fuzzy`), then run
`make messages` again (or `manage.py compilemessages`) so that the .mo matches.
"""

from __future__ import annotations

import ast
import gettext
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from people.models import User
from pfmg.demo import seed_demo
from prescriptions.models import Dossier

ROOT = Path(settings.BASE_DIR)
PO = ROOT / "locale" / "en" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


@pytest.fixture(autouse=True)
def _keep_the_active_language():
    """The locale middleware activates the cookie's language in this thread: do not leak English to other tests."""
    with translation.override(translation.get_language()):
        yield


@pytest.fixture
def prescriber(db, reference_data):
    seed_demo()
    return User.objects.get(username="prescriber")


def choose_english(client):
    response = client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"


def test_the_home_page_is_in_english_once_english_is_chosen(client, prescriber):
    client.force_login(prescriber)
    choose_english(client)
    page = client.get(reverse("home")).content.decode()
    assert '<html lang="en">' in page
    assert "My dossiers" in page
    assert "New prescription" in page
    assert "Mes dossiers" not in page
    assert "Nouvelle prescription" not in page
    assert "Se déconnecter" not in page


def test_the_prescription_and_dossier_pages_are_in_english_too(client, prescriber):
    client.force_login(prescriber)
    choose_english(client)
    start = client.get(reverse("prescribe_start")).content.decode()
    assert "Choose the pre-indication" in start
    assert "Choisir la pré-indication" not in start
    dossier = Dossier.objects.filter(prescriber=prescriber).order_by("pk").first()
    detail = client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
    assert "Timeline" in detail
    assert "Chronologie" not in detail
    # English puts no space before a colon; French puts a non-breaking one ({% colon %}).
    assert "Family structure: " in detail and "Family structure\xa0:" not in detail
    client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    french = client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
    assert "Structure familiale\xa0: " in french


def test_the_login_page_is_in_english_once_english_is_chosen(client, db):
    choose_english(client)
    page = client.get(reverse("login")).content.decode()
    assert "Log in" in page
    assert "Password" in page
    assert "Se connecter" not in page
    assert "Mot de passe" not in page


def test_french_remains_the_default(client, prescriber):
    client.force_login(prescriber)
    page = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9").content.decode()
    assert '<html lang="fr">' in page
    assert "Mes dossiers" in page
    assert "My dossiers" not in page


# --- The catalogue itself -----------------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    fuzzy: bool = False


def parse_po(path: Path) -> list[Entry]:
    """The active entries of a .po file (obsolete `#~` ones skipped), the header included (msgid "").

    Entries are separated by blank lines, as gettext writes them; a string continues on the lines that
    start with a quote."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        fields: dict[str, str] = {}
        fuzzy, last = False, ""
        for line in (raw.strip() for raw in block.splitlines()):
            if line.startswith("#,"):
                fuzzy = fuzzy or "fuzzy" in line[2:].replace(" ", "").split(",")
            elif line.startswith('"') and last:
                fields[last] += ast.literal_eval(line)
            elif line and not line.startswith("#"):
                last, text = line.split(" ", 1)
                fields[last] = ast.literal_eval(text)
        if "msgid" not in fields:
            continue  # only comments, or an obsolete entry
        msgstr = {int(k[7:-1]): v for k, v in fields.items() if k.startswith("msgstr[")}
        if "msgstr" in fields:
            msgstr[0] = fields["msgstr"]
        entries.append(Entry(fields["msgid"], fields.get("msgid_plural"), msgstr, fuzzy))
    return entries


def untranslated(entries: list[Entry]) -> list[str]:
    """The msgids of entries that Django would show in French: an empty msgstr, or flagged fuzzy."""
    bad = []
    for e in entries:
        if not e.msgid:
            continue
        wanted = 2 if e.msgid_plural is not None else 1
        forms = [e.msgstr.get(i, "") for i in range(wanted)]
        if e.fuzzy or not all(forms):
            bad.append(("fuzzy: " if e.fuzzy else "empty: ") + e.msgid)
    return bad


def test_every_string_of_the_english_catalogue_is_translated():
    entries = parse_po(PO)
    assert len(entries) > 500, "locale/en/LC_MESSAGES/django.po looks truncated"
    header = next(e for e in entries if not e.msgid)
    assert not header.fuzzy, "remove `#, fuzzy` from the .po header"
    bad = untranslated(entries)
    assert not bad, (
        f"{len(bad)} string(s) without an English translation in {PO.relative_to(ROOT)}:\n" + "\n".join(bad)
    )


def test_the_compiled_catalogue_matches_the_po_file():
    """django.mo is what Django reads: a .po edited without `compilemessages` changes nothing on screen."""
    with MO.open("rb") as fp:
        catalog = gettext.GNUTranslations(fp)._catalog  # type: ignore[attr-defined]
    stale = []
    for e in parse_po(PO):
        if not e.msgid or e.fuzzy:
            continue
        if e.msgid_plural is None:
            ok = catalog.get(e.msgid) == e.msgstr.get(0)
        else:
            ok = all(catalog.get((e.msgid, i)) == text for i, text in e.msgstr.items())
        if not ok:
            stale.append(e.msgid)
    assert not stale, (
        "django.mo is out of date (run `make messages` or `manage.py compilemessages`):\n" + "\n".join(stale)
    )


@pytest.mark.skipif(not shutil.which("xgettext"), reason="needs GNU gettext (apt-get install gettext)")
def test_every_translatable_string_of_the_source_is_in_the_english_catalogue(tmp_path):
    """Run makemessages on a copy of the project: a string added to the code or templates but not yet
    extracted and translated shows up here, with its msgid."""
    skip = {".git", ".venv", "bench", "test-artifacts", "var", "staticfiles", "node_modules", "__pycache__"}
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=lambda d, names: [n for n in names if n in skip or n.endswith(".mo")])
    env = {**os.environ, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "pfmg.settings"}
    command = [sys.executable, "manage.py", "makemessages", "-l", "en", "--no-location"]
    command += ["--ignore=.venv", "--ignore=bench", "--ignore=test-artifacts"]
    run = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    bad = untranslated(parse_po(copy / PO.relative_to(ROOT)))
    assert not bad, (
        f"{len(bad)} translatable string(s) of the source are not translated in {PO.relative_to(ROOT)}: "
        "run `make messages`, translate them, then `make messages` again:\n" + "\n".join(bad)
    )
