"""Bounds on what a client may send: formsets never build more forms than they allow, whatever TOTAL_FORMS
says, and answer fast with a message."""

import time

import pytest

from prescriptions.models import Dossier

from .test_prescribing import empty_formset, identity, start, step_url

pytestmark = pytest.mark.usefixtures("reference_data")


@pytest.fixture
def draft(client, db):
    from tests import factories as f

    prescriber = f.prescriber()
    f.rcp_body()
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    assert client.post(step_url(dossier, "patient"), identity()).status_code == 302
    return dossier


@pytest.mark.parametrize(
    ("step", "data", "message"),
    [
        ("famille", {"structure": "trio", **empty_formset("rel", 100_000)}, "au plus 8 apparentés"),
        (
            "clinique",
            {"clinical_summary": "Résumé.", **empty_formset("hpo", 100_000), **empty_formset("test")},
            "Au plus 60 termes HPO",
        ),
        (
            "clinique",
            {"clinical_summary": "Résumé.", **empty_formset("hpo"), **empty_formset("test", 100_000)},
            "Au plus 20 examens",
        ),
    ],
)
def test_a_huge_total_forms_is_refused_fast_with_a_message(client, draft, step, data, message):
    began = time.monotonic()
    response = client.post(step_url(draft, step), data)
    elapsed = time.monotonic() - began
    page = response.content.decode()
    assert response.status_code == 200 and message in page
    assert elapsed < 3, elapsed
    assert len(response.content) < 400_000, len(response.content)
    assert not draft.persons.exclude(relationship="index").exists() and not draft.phenotypes.exists()


FORM_MODULES = ("prescriptions.forms", "rcp.forms", "consent.forms", "labs.forms")


def test_every_free_text_field_of_every_form_is_bounded():
    import importlib
    import inspect

    from django import forms

    unbounded = []
    for name in FORM_MODULES:
        module = importlib.import_module(name)
        for cls_name, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, forms.BaseForm) and cls.__module__ == name:
                unbounded += [
                    f"{name}.{cls_name}.{field_name}"
                    for field_name, field in cls.base_fields.items()
                    if isinstance(field, forms.CharField) and field.max_length is None
                ]
    assert unbounded == []


def test_a_too_long_text_is_refused_with_a_message(client, draft):
    from django.urls import reverse

    long = "a" * 1001
    data = {"structure": "solo", "trio_exception_reason": long, **empty_formset("rel")}
    page = client.post(step_url(draft, "famille"), data).content.decode()
    assert "au plus 1000 caractères" in page
    cancel = reverse("dossier_transition", args=[draft.pk, "cancel"])
    response = client.post(cancel, {"reason": "x" * 10_001}, follow=True)
    assert "Le motif est trop long" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == Dossier.Status.DRAFT and draft.family_structure == ""


@pytest.mark.parametrize(
    ("day", "message"),
    [("1850-01-08", "antérieure à 2016"), ("2016-01-01", None), ("+800", "deux ans à l&#x27;avance")],
)
def test_a_meeting_is_dated_between_2016_and_two_years_ahead(client, db, day, message):
    import datetime as dt

    from django.urls import reverse
    from django.utils import timezone

    from rcp.models import Meeting
    from tests import factories as f

    if day.startswith("+"):
        day = (timezone.localdate() + dt.timedelta(days=int(day[1:]))).isoformat()
    rcp = f.rcp_body()
    client.force_login(f.coordinator(rcp))
    data = {"rcp": rcp.pk, "kind": "upstream", "date": day, "start_time": "14:00", "place": "Salle 2"}
    response = client.post(reverse("rcp:meeting_create"), data)
    if message is None:
        assert response.status_code == 302 and Meeting.objects.get().date.isoformat() == day
    else:
        assert message in response.content.decode() and not Meeting.objects.exists()
