"""The pre-indication catalogue: shipped data, versions with effective dates, import and export."""

import datetime as dt
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from prescriptions.catalogue import CatalogueError, export_entries, import_catalogue, revise_pre_indication
from prescriptions.models import Category, PreIndication, PreIndicationVersion
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")

SHIPPED = yaml.safe_load(open("prescriptions/data/pre_indications.yaml", encoding="utf-8"))["pre_indications"]


def test_the_confirmed_pre_indications_are_shipped_in_three_categories_each_with_a_source():
    assert PreIndication.objects.count() == len(SHIPPED) >= 35
    assert set(PreIndication.objects.values_list("category", flat=True)) == set(Category.values)
    for version in PreIndicationVersion.objects.all():
        assert version.sources and all(s.startswith("https://") for s in version.sources), version
    names = set(PreIndicationVersion.objects.values_list("name", flat=True))
    for confirmed in (
        "Déficience intellectuelle",
        "Leucodystrophies",
        "Myélome multiple au diagnostic",
        "Dystrophies rétiniennes héréditaires",
    ):
        assert confirmed in names


def test_fiche_details_from_the_sources_are_kept():
    retina = PreIndication.objects.get(slug="dystrophies-retiniennes-hereditaires").current_version()
    required = " ".join(d.label for d in retina.documents.all() if d.required)
    for document in ("ophtalmologique", "Fond d'œil", "OCT", "ERG"):
        assert document in required
    aplasia = PreIndication.objects.get(
        slug="aplasies-hypoplasies-medullaires-constitutionnelles"
    ).current_version()
    assert aplasia.trio_mandatory and "adopted_child" in aplasia.trio_exceptions
    assert "dna_fibroblasts" in aplasia.sample_types


def test_importing_the_same_file_twice_changes_nothing():
    before = PreIndicationVersion.objects.count()
    result = import_catalogue(SHIPPED)
    assert result.created == result.revised == []
    assert len(result.unchanged) == len(SHIPPED)
    assert PreIndicationVersion.objects.count() == before


def test_a_change_is_a_new_version_and_a_dossier_keeps_the_version_it_was_prescribed_under():
    dossier = f.dossier()
    original = dossier.pre_indication_version
    entry = next(e for e in SHIPPED if e["slug"] == "deficience-intellectuelle")
    widened = {
        **entry,
        "name": "Déficience intellectuelle et troubles du neurodéveloppement",
        "effective_from": dt.date.today() + dt.timedelta(days=1),
    }

    result = import_catalogue([widened])

    assert result.revised == ["deficience-intellectuelle"]
    original.refresh_from_db()
    assert original.name == "Déficience intellectuelle"
    assert original.effective_to == dt.date.today()
    newest = original.pre_indication.versions.order_by("-number").first()
    assert newest.number == original.number + 1 and newest.effective_to is None
    assert original.pre_indication.current_version() == original  # the new one starts tomorrow
    assert original.pre_indication.current_version(on=dt.date.today() + dt.timedelta(days=1)) == newest
    dossier.refresh_from_db()
    assert dossier.pre_indication_version == original


def test_a_bad_import_is_refused_whole_with_every_error_named():
    good = {
        "slug": "nouvelle-pre-indication",
        "category": "cancer",
        "name": "Nouvelle",
        "sources": ["https://x.org"],
    }
    bad = {"slug": "mauvaise", "category": "astrology", "name": "", "sample_types": ["saliva"], "sources": []}
    with pytest.raises(CatalogueError) as refused:
        import_catalogue([good, bad])
    text = str(refused.value)
    for expected in ("category must be one of", "name is missing", "sample_types", "at least one source"):
        assert expected in text
    assert not PreIndication.objects.filter(slug="nouvelle-pre-indication").exists()


def test_a_merged_pre_indication_names_its_target():
    entry = {**next(e for e in SHIPPED if e["slug"] == "nbia"), "status": "merged"}
    with pytest.raises(CatalogueError, match="merged_into"):
        import_catalogue([entry])
    import_catalogue([{**entry, "merged_into": "dystonies-mouvements-anormaux-rares"}])
    latest = PreIndication.objects.get(slug="nbia").versions.order_by("-number").first()
    assert latest.merged_into.slug == "dystonies-mouvements-anormaux-rares"
    assert not latest.is_prescribable


@pytest.mark.parametrize("fmt", ["yaml", "csv"])
def test_export_then_import_round_trips_through_the_command(tmp_path, fmt):
    target = tmp_path / f"catalogue.{fmt}"
    call_command("catalogue", "export", "--format", fmt, "--output", str(target))
    assert "Déficience intellectuelle" in target.read_text(encoding="utf-8")
    out = StringIO()
    call_command("catalogue", "import", str(target), stdout=out)
    assert out.getvalue().strip() == f"0 created, 0 revised, {len(SHIPPED)} unchanged"


def test_the_command_adds_a_pre_indication_and_refuses_a_broken_file(tmp_path):
    new = tmp_path / "new.yaml"
    new.write_text(
        yaml.safe_dump(
            {
                "pre_indications": [
                    {
                        "slug": "cancers-pancreas",
                        "category": "cancer",
                        "name": "Cancers du pancréas (nom à confirmer)",
                        "sample_types": ["frozen_tumour", "ffpe"],
                        "sources": ["https://pfmg2025.aviesan.fr/"],
                    }
                ]
            },
            allow_unicode=True,
        ),
        encoding="utf-8",
    )
    call_command("catalogue", "import", str(new), stdout=StringIO())
    assert PreIndication.objects.get(slug="cancers-pancreas").current_version().sample_types == [
        "frozen_tumour",
        "ffpe",
    ]

    broken = tmp_path / "broken.yaml"
    broken.write_text("pre_indications: {not: a list}", encoding="utf-8")
    with pytest.raises(CommandError, match="pre_indications"):
        call_command("catalogue", "import", str(broken))
    with pytest.raises(CommandError, match="No such file"):
        call_command("catalogue", "import", str(tmp_path / "missing.yaml"))


def test_export_lists_the_latest_version():
    pre_indication = PreIndication.objects.get(slug="leucodystrophies")
    content = {
        k: v
        for k, v in next(e for e in export_entries() if e["slug"] == "leucodystrophies").items()
        if k not in ("slug", "category", "effective_from", "version")
    }
    revise_pre_indication(
        pre_indication=pre_indication,
        content={**content, "conditional": True},
        effective_from=dt.date.today() + dt.timedelta(days=3),
    )
    exported = next(e for e in export_entries() if e["slug"] == "leucodystrophies")
    assert exported["version"] == 2 and exported["conditional"] is True
