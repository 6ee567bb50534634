"""The prescription summary PDF ("bon de prescription"): what a reader finds in it, its fonts, its determinism,
its storage by the Celery task, and who may download it."""

import os
import shutil
import subprocess
import threading

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from prescriptions import drafting
from prescriptions.models import Dossier, DossierPerson
from prescriptions.pdf import dossier_for_rendering, prescription_summary_path, render_prescription_summary
from prescriptions.services import transition_dossier
from prescriptions.tasks import render_prescription_summary as render_task
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")
INS = "215037505608975"  # female, born March 2015, valid key


def poppler(tool: str) -> str:
    """Debian's poppler-utils, which CI installs: skipped without it here, a failure where services are required."""
    path = shutil.which(tool)
    if path is None:
        why = f"needs {tool} (apt-get install poppler-utils)"
        if os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false"):
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    return path


def pdf_text(data: bytes, tmp_path) -> str:
    """The PDF's text as pdftotext reads it, each run of spaces and line breaks made one space (a name may wrap
    in its table cell)."""
    source = tmp_path / "summary.pdf"
    source.write_bytes(data)
    run = subprocess.run(  # noqa: S603 - a fixed tool on a file of ours
        [poppler("pdftotext"), "-enc", "UTF-8", str(source), "-"],
        capture_output=True,
        check=True,
        text=True,
    )
    return " ".join(run.stdout.split())


@pytest.fixture
def prescriber(db):
    return f.prescriber()


@pytest.fixture
def dossier(prescriber) -> Dossier:
    """A submitted dossier whose index case's name has accents, with a document attached."""
    rcp = f.rcp_body()
    d = f.dossier(prescriber_user=prescriber, rcp=rcp)
    drafting.save_index_case(
        dossier=d,
        actor=prescriber,
        identity={"birth_name": "LEFÈVRE", "first_names": "Léa Hélène", "sex": "F", "ins": INS},
        affected=DossierPerson.Affected.AFFECTED,
    )
    drafting.add_document(
        dossier=d,
        actor=prescriber,
        uploaded=SimpleUploadedFile(
            "courrier-LEFEVRE-Lea.pdf", b"%PDF-1.7\n" + b"0" * 200, "application/pdf"
        ),
        expected=None,
        label="Courrier de consultation génétique",
    )
    drafting.attest_and_submit(dossier=d, prescriber=prescriber, rcp=rcp)
    return d


def ask_for_more(dossier: Dossier) -> None:
    assert dossier.rcp is not None
    coordinator = f.coordinator(dossier.rcp)
    transition_dossier(
        dossier=dossier, name="request_more_info", actor=coordinator, reason="Arbre généalogique ?"
    )


def test_the_summary_reads_as_the_prescription(dossier, tmp_path):
    data = render_prescription_summary(dossier_for_rendering(dossier.pk))
    assert data.startswith(b"%PDF-")
    text = pdf_text(data, tmp_path)
    assert dossier.reference in text
    assert "Bon de prescription" in text
    assert "Soumis à la RCP" in text
    assert "Léa Hélène" in text
    assert "LEFÈVRE" in text
    assert INS in text
    assert dossier.pre_indication_version.name.split()[0] in text
    assert f"version {dossier.pre_indication_version.number}" in text
    assert str(dossier.prescriber) in text
    assert dossier.establishment.name in text
    assert dossier.rcp.name in text
    assert "HP:0001249" in text  # the HPO terms of the clinical picture
    assert "ACPA (puce à ADN / array-CGH)" in text  # the prior test
    assert "Courrier de consultation génétique" in text
    assert "courrier-LEFEVRE" not in text  # a document's uploaded name may hold a patient's name: never shown
    assert "Prescription attestée par le prescripteur le" in text
    assert "Page 1 / " in text


def test_the_fonts_are_embedded(dossier, tmp_path):
    source = tmp_path / "summary.pdf"
    source.write_bytes(render_prescription_summary(dossier_for_rendering(dossier.pk)))
    listing = subprocess.run(  # noqa: S603 - a fixed tool on a file of ours
        [poppler("pdffonts"), str(source)], capture_output=True, check=True, text=True
    ).stdout
    fonts = listing.splitlines()[2:]  # after the header and its underline
    assert fonts, listing
    for line in fonts:
        assert "DejaVu" in line, line
        # Columns: name, type (two words), encoding, emb, sub, uni, object id.
        emb = line.split()[-5]
        assert emb == "yes", listing


def test_rendering_twice_gives_the_same_bytes(dossier):
    first = render_prescription_summary(dossier_for_rendering(dossier.pk))
    again = render_prescription_summary(dossier_for_rendering(dossier.pk))
    assert first == again
    # Another thread has its own font configuration, as a restarted worker would: still the same bytes.
    loaded = dossier_for_rendering(dossier.pk)
    elsewhere: list[bytes] = []
    thread = threading.Thread(target=lambda: elsewhere.append(render_prescription_summary(loaded)))
    thread.start()
    thread.join()
    assert elsewhere == [first]


def test_the_task_stores_one_file_per_content_and_a_new_one_when_the_dossier_changes(dossier, prescriber):
    assert prescription_summary_path(dossier) is None
    # apply(): run here whether or not a broker is configured (the worker's own journey is tested elsewhere).
    first = render_task.apply(args=[dossier.pk]).get()
    written = default_storage.get_modified_time(first)
    again = render_task.apply(args=[dossier.pk]).get()
    assert first == again
    assert default_storage.get_modified_time(first) == written  # not rewritten
    assert first.startswith(f"renders/{dossier.reference}/prescription-summary-") and first.endswith(".pdf")
    folders, files = default_storage.listdir(f"renders/{dossier.reference}")
    assert files == [first.rsplit("/", 1)[1]]
    assert prescription_summary_path(dossier) == first

    ask_for_more(dossier)  # the status printed on the summary changes
    changed = render_task.apply(args=[dossier.pk]).get()
    assert changed != first
    assert sorted(default_storage.listdir(f"renders/{dossier.reference}")[1]) == sorted(
        [first.rsplit("/", 1)[1], changed.rsplit("/", 1)[1]]
    )
    assert prescription_summary_path(dossier) == changed


def test_the_task_goes_to_the_pdfs_queue():
    from pfmg.celery import app

    assert app.amqp.router.route({}, render_task.name, args=(1,), kwargs={})["queue"].name == "pdfs"


def test_the_prescriber_downloads_the_summary(client, dossier, prescriber, tmp_path):
    client.force_login(prescriber)
    response = client.get(reverse("prescription_summary_pdf", args=[dossier.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{dossier.reference}-bon-de-prescription.pdf"'
    )
    assert response["Cache-Control"] == "private, no-store"
    data = b"".join(response.streaming_content)
    assert dossier.reference in pdf_text(data, tmp_path)
    # Rendered on demand and stored, as the task would have: the next download serves the same file.
    assert prescription_summary_path(dossier) is not None
    again = client.get(reverse("prescription_summary_pdf", args=[dossier.pk]))
    assert b"".join(again.streaming_content) == data
    assert len(default_storage.listdir(f"renders/{dossier.reference}")[1]) == 1


def test_a_download_never_serves_a_summary_older_than_the_dossier(client, dossier, prescriber, tmp_path):
    stored = render_task.apply(args=[dossier.pk]).get()
    ask_for_more(dossier)
    client.force_login(prescriber)
    response = client.get(reverse("prescription_summary_pdf", args=[dossier.pk]))
    text = pdf_text(b"".join(response.streaming_content), tmp_path)
    assert "Complément demandé" in text
    assert "Soumis à la RCP" not in text
    assert prescription_summary_path(dossier) != stored


def test_the_dossier_page_links_to_the_summary(client, dossier, prescriber):
    client.force_login(prescriber)
    page = client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
    assert reverse("prescription_summary_pdf", args=[dossier.pk]) in page


def test_a_draft_has_no_summary(client, prescriber):
    draft = f.dossier(prescriber_user=prescriber)
    client.force_login(prescriber)
    page = client.get(reverse("dossier_detail", args=[draft.pk])).content.decode()
    assert reverse("prescription_summary_pdf", args=[draft.pk]) not in page
    assert client.get(reverse("prescription_summary_pdf", args=[draft.pk])).status_code == 404


def test_another_prescriber_gets_404_and_nothing_is_rendered(client, dossier):
    client.force_login(f.prescriber())
    response = client.get(reverse("prescription_summary_pdf", args=[dossier.pk]))
    assert response.status_code == 404
    assert prescription_summary_path(dossier) is None


def test_an_anonymous_visitor_is_sent_to_log_in(client, dossier):
    url = reverse("prescription_summary_pdf", args=[dossier.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"
    assert prescription_summary_path(dossier) is None


def test_the_render_sweep_queues_again_a_summary_whose_render_was_lost(dossier, settings):
    """Here the submission's on_commit never ran (the test's transaction never commits): exactly a render lost
    with the broker. The sweep (beat, pfmg.tasks.sweep_missing_renders) finds it, once."""
    from pfmg.tasks import sweep_missing_renders

    assert prescription_summary_path(dossier) is None
    assert sweep_missing_renders.apply().get() == 1  # tasks run eagerly in tests: rendered and stored now
    assert prescription_summary_path(dossier) is not None
    assert sweep_missing_renders.apply().get() == 0  # nothing missing any more

    settings.RENDER_SWEEP_HOURS = 0  # older than the sweep's window: left to the download
    default_storage.delete(prescription_summary_path(dossier))
    assert sweep_missing_renders.apply().get() == 0
