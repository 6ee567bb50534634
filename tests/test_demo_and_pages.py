"""From a fresh database: the demo seed, every demo account logging in, the pages and the API skeleton."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from people.models import Role, User
from pfmg.demo import DEMO_PASSWORD, DEMO_TOTP_USERS, PATHS, complete_draft, demo_totp_code, seed_demo
from pfmg.management.commands.seed_demo import ACCOUNTS
from prescriptions.drafting import add_document
from prescriptions.models import Dossier, DossierEvent
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")

USERNAMES = [username for username, _ in ACCOUNTS]


@pytest.fixture
def demo(db, reference_data):
    seed_demo()  # what `manage.py seed_demo` does after loading the reference data (loaded once per session)


def login(client, username):
    assert client.login(username=username, password=DEMO_PASSWORD), username
    return client


def test_the_demo_has_one_account_per_role_and_dossiers_in_every_status(demo):
    assert (
        set(User.objects.values_list("username", flat=True))
        >= set(USERNAMES)
        == {
            "prescriber",
            "prescriber2",
            "assistant",
            "counsellor",
            "coordinator",
            "lab_auragen",
            "lab_seqoia",
            "biologist_auragen",
            "biologist_seqoia",
            "national",
            "admin",
            "auditor",
        }
    )
    assert set(Dossier.objects.values_list("status", flat=True)) == set(Dossier.Status.values)
    # Both territories appear, each routed to its own laboratory.
    routed = set(
        Dossier.objects.exclude(laboratory=None).values_list("establishment__city", "laboratory__code")
    )
    assert routed == {("Paris", "seqoia"), ("Lyon", "auragen")}


def test_every_demo_history_is_one_the_state_machine_produced(demo):
    for dossier in Dossier.objects.prefetch_related("events"):
        steps = [e for e in dossier.events.all() if e.kind == DossierEvent.Kind.TRANSITION]
        assert [e.transition for e in steps] == PATHS[dossier.status]
        assert all(a.at <= b.at for a, b in zip(steps, steps[1:], strict=False))


def test_seeding_twice_changes_nothing(demo, settings):
    settings.DEMO_MODE = True
    counts = (User.objects.count(), Dossier.objects.count(), DossierEvent.objects.count())
    call_command("seed_demo", verbosity=0)
    assert (User.objects.count(), Dossier.objects.count(), DossierEvent.objects.count()) == counts


def test_seed_demo_refuses_outside_demo_mode(db, settings):
    from django.core.management import CommandError

    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="demo mode"):
        call_command("seed_demo")


@pytest.mark.parametrize("username", USERNAMES)
def test_each_demo_user_logs_in_through_the_form_and_reaches_home(client, demo, username):
    response = client.post(reverse("login"), {"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 302
    if username in DEMO_TOTP_USERS:  # their function requires the second factor: the demo key's code
        assert response["Location"] == reverse("login_code")
        response = client.post(reverse("login_code"), {"code": demo_totp_code()})
        assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert "Se déconnecter" in home.content.decode()


def test_a_wrong_password_is_refused_with_a_message(client, demo):
    response = client.post(reverse("login"), {"username": "prescriber", "password": "wrong"})
    assert response.status_code == 200
    assert 'role="alert"' in response.content.decode()


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_admin_serves_the_dossier_with_its_timeline_and_actions(client, demo):
    login(client, "admin")
    assert client.get("/admin/").status_code == 200
    dossier = Dossier.objects.filter(status=Dossier.Status.SUBMITTED).first()
    page = client.get(reverse("admin:prescriptions_dossier_change", args=[dossier.pk])).content.decode()
    assert "Chronologie" in page
    assert "Annuler le dossier" in page  # an administrator may cancel…
    assert "ni le prescripteur" in page  # …but not validate, and is told why


def test_the_admin_cancels_with_a_reason_through_the_service(client, demo):
    login(client, "admin")
    dossier = Dossier.objects.filter(status=Dossier.Status.SUBMITTED).first()
    url = reverse("admin:prescriptions_dossier_transition", args=[dossier.pk, "cancel"])
    refused = client.post(url, {"reason": ""})
    assert "Un motif est obligatoire" in refused.content.decode()
    client.post(url, {"reason": "Doublon d'un autre dossier"})
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.CANCELLED
    assert dossier.events.last().reason == "Doublon d'un autre dossier"


def test_prescribers_see_only_their_dossiers_and_a_guessed_url_answers_404(client, demo):
    login(client, "prescriber")
    mine = Dossier.objects.filter(prescriber__username="prescriber")
    theirs = Dossier.objects.filter(prescriber__username="prescriber2").first()
    page = client.get("/?page=1").content.decode()
    assert theirs.reference not in page
    assert client.get(reverse("dossier_detail", args=[mine.first().pk])).status_code == 200
    assert client.get(reverse("dossier_detail", args=[theirs.pk])).status_code == 404
    response = client.post(reverse("dossier_transition", args=[theirs.pk, "cancel"]), {"reason": "x"})
    assert response.status_code == 404


def test_laboratories_see_only_their_own_routed_dossiers(client, demo):
    login(client, "lab_seqoia")
    response = client.get("/", {"status": Dossier.Status.RECEIVED})
    seqoia = Dossier.objects.get(status=Dossier.Status.RECEIVED, laboratory__code="seqoia")
    auragen = Dossier.objects.get(status=Dossier.Status.RECEIVED, laboratory__code="auragen")
    assert seqoia.reference in response.content.decode()
    assert auragen.reference not in response.content.decode()
    assert client.get(reverse("dossier_detail", args=[auragen.pk])).status_code == 404
    draft = Dossier.objects.filter(status=Dossier.Status.DRAFT).first()
    assert client.get(reverse("dossier_detail", args=[draft.pk])).status_code == 404


def test_national_coordination_sees_aggregates_and_no_identity(client, demo):
    login(client, "national")
    page = client.get("/").content.decode()
    assert "agrégées" in page
    assert "PFMG-" not in page and "MARTIN" not in page
    assert client.get(reverse("dossier_detail", args=[Dossier.objects.first().pk])).status_code == 404


def test_the_dossier_page_shows_the_timeline_and_why_an_action_is_unavailable(client, demo):
    login(client, "prescriber")
    dossier = Dossier.objects.get(prescriber__username="prescriber", status=Dossier.Status.SUBMITTED)
    page = client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
    assert "Chronologie" in page and "Soumis à la RCP" in page
    assert "Annuler le dossier" in page
    # An action of theirs that the dossier does not allow yet says what is missing.
    validated = Dossier.objects.get(prescriber__username="prescriber", status=Dossier.Status.RCP_VALIDATED)
    page = client.get(reverse("dossier_detail", args=[validated.pk])).content.decode()
    assert (
        "Finaliser la prescription" in page and "Consentement signé acceptant l&#x27;analyse manquant" in page
    )
    # Actions that belong to others are not listed: the laboratory does not record withdrawals.
    from prescriptions.services import ACTION_LABELS

    login(client, "lab_seqoia")
    received = Dossier.objects.get(status=Dossier.Status.RECEIVED, laboratory__code="seqoia")
    page = client.get(reverse("dossier_detail", args=[received.pk])).content.decode()
    assert str(ACTION_LABELS["start_sequencing"]) in page
    assert str(ACTION_LABELS["withdraw"]) not in page and str(ACTION_LABELS["cancel"]) not in page


def test_a_user_fires_a_transition_from_the_dossier_page(client, demo):
    login(client, "lab_seqoia")
    dossier = Dossier.objects.get(status=Dossier.Status.RECEIVED, laboratory__code="seqoia")
    response = client.post(reverse("dossier_transition", args=[dossier.pk, "start_sequencing"]), follow=True)
    assert response.status_code == 200
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.SEQUENCING
    refused = client.post(reverse("dossier_transition", args=[dossier.pk, "sign_report"]), follow=True)
    assert "impossible" in refused.content.decode()


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("username", ["admin", "prescriber", "lab_seqoia"])
def test_the_list_costs_the_same_queries_whatever_the_number_of_dossiers(
    client, demo, username, django_assert_max_num_queries
):
    login(client, username)
    before = _queries(client, "/")
    for _ in range(8):
        d = f.dossier(prescriber_user=User.objects.get(username="prescriber"))
        complete_draft(d, d.prescriber, d.pk, trio=True)
    assert _queries(client, "/") == before
    # 15 for the page, 3 for its entry in the audit trail (a constant: audit/middleware.py).
    with django_assert_max_num_queries(18):
        client.get("/")


def test_the_dossier_page_costs_the_same_queries_whatever_its_size(client, demo):
    login(client, "prescriber")
    small = f.dossier(prescriber_user=User.objects.get(username="prescriber"))
    large = f.dossier(prescriber_user=User.objects.get(username="prescriber"))
    complete_draft(large, large.prescriber, large.pk, trio=True)
    for i in range(6):
        add_document(
            dossier=large,
            actor=large.prescriber,
            expected=None,
            label=f"Bilan {i}",
            uploaded=SimpleUploadedFile(f"b{i}.pdf", b"%PDF-1.4 test"),
        )
    assert _queries(client, reverse("dossier_detail", args=[small.pk])) == _queries(
        client, reverse("dossier_detail", args=[large.pk])
    )


def test_the_api_serves_the_catalogue_with_a_token_and_refuses_anonymous(client, demo):
    assert client.get("/api/v1/pre-indications/").status_code in (401, 403)
    token = client.post(
        "/api/v1/auth/token/",
        {"username": "prescriber", "password": DEMO_PASSWORD},
        content_type="application/json",
    ).json()["token"]
    response = client.get("/api/v1/pre-indications/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] >= 35
    slugs = {p["slug"] for p in body["results"]}
    assert "deficience-intellectuelle" in slugs
    detail = client.get(
        "/api/v1/pre-indications/leucodystrophies/", HTTP_AUTHORIZATION=f"Token {token}"
    ).json()
    assert detail["versions"][0]["name"] == "Leucodystrophies"


def test_the_openapi_schema_and_its_docs_are_served_to_signed_in_users_only(client, demo):
    assert client.get("/api/schema/").status_code == 401
    assert client.get("/api/docs/")["Location"].startswith("/accounts/login/")
    login(client, "prescriber")
    schema = client.get("/api/schema/")
    assert schema.status_code == 200 and b"/api/v1/pre-indications/" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_healthz_reports_the_database(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json()["database"] == "ok"


def test_roles_are_held_through_groups(demo):
    assert User.objects.get(username="coordinator").has_role(Role.RCP_MEMBER)
    assert User.objects.get(username="biologist_seqoia").has_role(Role.BIOLOGIST)
    assert not User.objects.get(username="lab_seqoia").has_role(Role.BIOLOGIST)


def test_every_model_has_an_admin_page_that_opens(client, demo):
    from django.apps import apps
    from django.contrib import admin

    login(client, "admin")
    ours = [m for m in apps.get_models() if m._meta.app_label in ("people", "prescriptions")]
    missing = [m.__name__ for m in ours if m not in admin.site._registry]
    assert missing == []
    for model in ours:
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert client.get(url).status_code == 200, url


def test_the_interface_is_french_whatever_the_browser_says_and_english_on_request(client, demo):
    login(client, "prescriber")
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert page["Content-Language"] == "fr"
    assert '<html lang="fr">' in page.content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert client.get("/")["Content-Language"] == "en"


def test_a_missing_page_is_french_and_inside_the_portal_layout(client, demo):
    login(client, "prescriber")
    response = client.get("/dossiers/999999/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "Page introuvable" in page and 'id="main"' in page
