"""The CI audit step's ignore file: every accepted vulnerability carries its reason, or the step refuses it."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def step():
    spec = importlib.util.spec_from_file_location("pip_audit_step", ROOT / ".ci" / "pip_audit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_ignore_file_is_valid(step):
    assert all(reason for reason in step.accepted().values())


def test_an_accepted_vulnerability_needs_a_reason(step, tmp_path, monkeypatch):
    ignore = tmp_path / "ignore.txt"
    monkeypatch.setattr(step, "IGNORE_FILE", ignore)
    ignore.write_text(
        "# comment\nGHSA-aaaa-bbbb-cccc  only in a CLI the portal never runs (reviewed 2026-11-29)\n"
    )
    assert step.accepted() == {
        "GHSA-aaaa-bbbb-cccc": "only in a CLI the portal never runs (reviewed 2026-11-29)"
    }
    ignore.write_text("PYSEC-2024-1\n")
    with pytest.raises(SystemExit, match="PYSEC-2024-1 has no reason"):
        step.accepted()


def test_an_audit_that_could_not_happen_is_not_a_pass(step, monkeypatch):
    monkeypatch.delenv("PIP_AUDIT_ALLOW_UNREACHABLE", raising=False)
    assert step._unaudited() == 2
    monkeypatch.setenv("PIP_AUDIT_ALLOW_UNREACHABLE", "1")
    assert step._unaudited() == 0
