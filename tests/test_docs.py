"""The state machine's graph in docs/ is the one the code has (regenerate with `make graph`)."""

from io import StringIO
from pathlib import Path

from django.core.management import call_command

DOT = Path(__file__).resolve().parent.parent / "docs" / "dossier-states.dot"


def test_the_documented_graph_matches_the_state_machine():
    out = StringIO()
    call_command("graph_transitions", "prescriptions.Dossier", stdout=out)
    # graph_transitions lists nodes in set order: compare the lines, not their order.
    assert sorted(out.getvalue().split("\n")) == sorted(DOT.read_text(encoding="utf-8").split("\n")), (
        "docs/dossier-states.dot is stale: run `make graph`"
    )
