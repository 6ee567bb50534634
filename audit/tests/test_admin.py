"""The admin: a dossier's clinical content is read-only once it has left draft, and every change made there is in
the trail with its before and after values."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse

from audit.admin_trail import MASKED, REDACTED
from audit.models import Action, AuditEntry, Source
from prescriptions.models import Dossier, DossierPerson, DossierPhenotype, Patient, PriorTest
from tests import factories as f

S = Dossier.Status


@pytest.fixture
def superuser(db):
    return f.UserFactory(username="root", is_staff=True, is_superuser=True)


def form_data(response) -> dict:
    """The POST the admin's change page would send as it stands (main form and inline formsets)."""
    data = {}

    def add(form):
        for name in form.fields:
            value = form[name].value()
            if value is None:
                continue
            if isinstance(value, (list, tuple)):
                data[form.add_prefix(name)] = [str(v) for v in value]
            elif isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
            else:
                data[form.add_prefix(name)] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


def _admin_url(obj, view="change"):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_{view}", args=[obj.pk])


@pytest.mark.parametrize("status", [S.SUBMITTED, S.REPORT_DELIVERED])
def test_a_submitted_dossier_s_clinical_content_is_read_only_in_the_admin(client, superuser, walked, status):
    dossier = walked(status)
    assert dossier.attested_at is not None
    person = dossier.persons.get(relationship="index")
    phenotype = dossier.phenotypes.first()
    prior = dossier.prior_tests.first()
    client.force_login(superuser)
    before = {
        "summary": dossier.clinical_summary,
        "persons": list(DossierPerson.objects.filter(dossier=dossier).values()),
        "phenotypes": list(DossierPhenotype.objects.filter(dossier=dossier).values()),
        "prior": list(PriorTest.objects.filter(dossier=dossier).values()),
        "patient": Patient.objects.filter(pk=person.patient_id).values().get(),
    }
    edits = [
        (dossier, {"clinical_summary": "Réécrit par l'administrateur"}),
        (person, {"patient": person.patient_id, "relationship": "index", "affected": "unaffected"}),
        (phenotype, {"term": phenotype.term_id, "present": ""}),
        (prior, {"kind": prior.kind, "result": "positive", "performed_on": "2024-03-01", "details": "x"}),
        (
            person.patient,
            {"birth_name": "AUTRE", "first_names": "Nom", "sex": "M", "date_of_birth": "2000-01-01"},
        ),
    ]
    for obj, data in edits:
        assert client.post(_admin_url(obj), data).status_code == 403, obj
    for obj in (person, phenotype, prior, person.patient):
        assert client.post(_admin_url(obj, "delete"), {"post": "yes"}).status_code == 403, obj
    # What an administrator may still do: read it.
    assert client.get(_admin_url(dossier)).status_code == 200
    dossier.refresh_from_db()
    assert dossier.clinical_summary == before["summary"]
    assert list(DossierPerson.objects.filter(dossier=dossier).values()) == before["persons"]
    assert list(DossierPhenotype.objects.filter(dossier=dossier).values()) == before["phenotypes"]
    assert list(PriorTest.objects.filter(dossier=dossier).values()) == before["prior"]
    assert Patient.objects.filter(pk=person.patient_id).values().get() == before["patient"]
    # The refusals are in the trail.
    denied = AuditEntry.objects.filter(actor=superuser, action=Action.DENIED, status_code=403)
    assert denied.count() == len(edits) + 4
    assert set(denied.values_list("dossier_reference", flat=True)) == {dossier.reference}


def test_a_draft_dossier_s_content_changed_in_the_admin_is_recorded_before_and_after(client, superuser, cast):
    dossier = f.dossier(prescriber_user=cast.prescriber)
    assert dossier.status == S.DRAFT
    person = dossier.persons.get(relationship="index")
    client.force_login(superuser)
    response = client.get(_admin_url(person))
    data = form_data(response)
    data["affected"] = "unaffected"
    assert client.post(_admin_url(person), data).status_code == 302
    entry = AuditEntry.objects.get(action=Action.ADMIN_EDIT, object_type="prescriptions.dossierperson")
    assert entry.detail["before"] == {"affected": "affected"} and entry.detail["after"] == {
        "affected": "unaffected"
    }
    assert (entry.actor, entry.source, entry.dossier_reference) == (
        superuser,
        Source.ADMIN,
        dossier.reference,
    )
    assert person.patient_id in entry.patient_id_list


def test_a_patient_identity_changed_in_the_admin_is_recorded_masked(client, superuser, cast):
    dossier = f.dossier(prescriber_user=cast.prescriber)
    patient = dossier.persons.get(relationship="index").patient
    client.force_login(superuser)
    data = form_data(client.get(_admin_url(patient)))
    data["birth_name"] = "NOUVEAUNOM"
    assert client.post(_admin_url(patient), data).status_code == 302
    entry = AuditEntry.objects.get(action=Action.ADMIN_EDIT, object_type="prescriptions.patient")
    assert entry.detail["before"] == {"birth_name": MASKED} == entry.detail["after"]
    assert patient.pk in entry.patient_id_list
    assert "NOUVEAUNOM" not in str(AuditEntry.objects.values().filter(pk=entry.pk).get())


def test_an_rcp_wait_threshold_changed_in_the_admin_is_in_the_trail(client, superuser, cast):
    rcp = cast.coordinator.rcp_memberships.get().rcp
    previous = rcp.wait_warning_days
    client.force_login(superuser)
    data = form_data(client.get(_admin_url(rcp)))
    data["wait_warning_days"] = str(previous + 7)
    assert client.post(_admin_url(rcp), data).status_code == 302
    rcp.refresh_from_db()
    assert rcp.wait_warning_days == previous + 7
    entry = AuditEntry.objects.get(action=Action.ADMIN_EDIT, object_type="people.rcpbody")
    assert entry.detail == {
        "model": "people.rcpbody",
        "before": {"wait_warning_days": previous},
        "after": {"wait_warning_days": previous + 7},
    }
    assert entry.object_id == str(rcp.pk) and entry.actor == superuser
    # The request itself is there too.
    assert AuditEntry.objects.filter(
        action=Action.ADMIN_CHANGE, url_name="admin:people_rcpbody_change"
    ).exists()


def test_third_party_admins_are_recorded_too(client, superuser):
    permission = Permission.objects.get(codename="view_auditentry")
    client.force_login(superuser)
    response = client.post(
        reverse("admin:auth_group_add"), {"name": "dpo-adjoint", "permissions": [permission.pk]}
    )
    assert response.status_code == 302
    group = Group.objects.get(name="dpo-adjoint")
    added = AuditEntry.objects.get(action=Action.ADMIN_ADD, object_type="auth.group")
    assert added.detail["after"]["name"] == "dpo-adjoint" and added.object_id == str(group.pk)
    linked = AuditEntry.objects.get(action=Action.ADMIN_M2M, object_type="auth.group")
    assert linked.detail["before"] == {"permissions": []} and linked.detail["after"] == {
        "permissions": [permission.pk]
    }
    assert client.post(_admin_url(group, "delete"), {"post": "yes"}).status_code == 302
    deleted = AuditEntry.objects.get(action=Action.ADMIN_DELETE, object_type="auth.group")
    assert deleted.detail["before"]["name"] == "dpo-adjoint"


def test_secrets_are_redacted(client, superuser):
    user = f.UserFactory(username="someone")
    client.force_login(superuser)
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = client.post(url, {"password1": "Un-nouveau-mot-2026", "password2": "Un-nouveau-mot-2026"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=Action.ADMIN_EDIT, object_type="people.user")
    assert entry.detail["after"]["password"] == REDACTED == entry.detail["before"]["password"]
    user.refresh_from_db()
    assert user.password not in str(AuditEntry.objects.values().filter(pk=entry.pk).get())


def test_no_admin_search_takes_a_patient_identity(db):
    """The admin's search is a GET: an identity typed there would travel in a URL into access logs."""
    from django.contrib import admin

    identity = {"birth_name", "used_name", "first_names", "ins", "date_of_birth"}
    for model, model_admin in admin.site._registry.items():
        for field in model_admin.search_fields:
            last = field.lstrip("=^@").split("__")[-1]
            through_patient = model._meta.label_lower == "prescriptions.patient" or "patient" in field
            assert not (last in identity and through_patient), f"{model._meta.label}: {field}"
