"""seed_scale: synthetic dossiers in bulk, whose histories the state machine and the rules would have accepted."""

import hashlib
import io
import re

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from labs.services import laboratory_for, route_dossier
from people.models import LaboratoryMembership, User
from pfmg.demo import APP_DEMOS, PATHS, REASONS, Cast
from pfmg.management.commands import seed_scale
from prescriptions import conditions, drafting
from prescriptions.models import Dossier, DossierEvent, DossierPerson, PreIndicationVersion
from prescriptions.rules import REASON_REQUIRED, TRANSITION_RULES
from prescriptions.services import TransitionRefused, transition_dossier

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("reference_data")]


@pytest.fixture(autouse=True)
def _demo_mode(settings):
    # seed_scale creates the demo accounts, so it runs in demo mode only (the refusal is tested below).
    settings.DEMO_MODE = True


LAB_TRANSITIONS = {
    "receive",
    "reject_samples",
    "start_sequencing",
    "start_analysis",
    "sign_report",
    "deliver_report",
}
REFERENCE = re.compile(r"^PFMG-(\d{4})-\d{6}$")


def seed(dossiers: int = 60, seed: int = 1) -> str:
    out = io.StringIO()
    call_command("seed_scale", dossiers=dossiers, seed=seed, stdout=out)
    return out.getvalue()


@pytest.fixture
def dossiers() -> list[Dossier]:
    seed()
    return list(
        Dossier.objects.select_related(
            "establishment__department__region", "laboratory", "rcp", "pre_indication_version__pre_indication"
        )
        .prefetch_related(
            "events__actor", "persons", "documents", "phenotypes", "pre_indication_version__documents"
        )
        .order_by("reference")
    )


def transition_events(dossier: Dossier) -> list[DossierEvent]:
    return [e for e in dossier.events.all() if e.kind == DossierEvent.Kind.TRANSITION]


def test_creates_the_dossiers_in_every_status_and_says_how_fast(dossiers):
    assert len(dossiers) == 60
    assert {d.status for d in dossiers} == set(PATHS)
    far_along = sum(d.status in (Dossier.Status.REPORT_DELIVERED, Dossier.Status.CLOSED) for d in dossiers)
    assert far_along > len(dossiers) / 3


def test_each_timeline_is_the_path_to_its_status(dossiers):
    now = timezone.now()
    for dossier in dossiers:
        events = list(dossier.events.all())  # ordered by (at, id)
        created = events[0]
        assert (created.kind, created.to_status, created.actor_id) == (
            "created",
            "draft",
            dossier.prescriber_id,
        )
        assert created.at == dossier.created_at < now
        transitions = transition_events(dossier)
        assert [e.transition for e in transitions] == PATHS[dossier.status], dossier
        state = Dossier.Status.DRAFT
        for event in transitions:
            assert event.from_status == state, (dossier, event)
            state = event.to_status
            assert bool(event.reason) == (event.transition in REASON_REQUIRED)
            if event.reason:
                assert event.reason == REASONS[event.transition]
        assert state == dossier.status
        times = [e.at for e in events]
        assert dossier.updated_at == times[-1]  # last activity, as the services keep it
        assert times == sorted(times) and len(set(times)) == len(times), dossier
        assert times[-1] < now
        kinds = [e.transition or e.kind for e in events]
        assert kinds.count(DossierEvent.Kind.NOTE) == len(dossier.documents.all())  # one per upload
        if "finalise" in kinds:
            # Routed by territory just before the prescriber finalises, as labs.services.route_dossier does.
            assert kinds[kinds.index("finalise") - 1] == DossierEvent.Kind.ROUTED
        else:
            assert DossierEvent.Kind.ROUTED not in kinds


def test_every_event_is_by_someone_the_rules_allow(dossiers):
    for dossier in dossiers:
        for event in transition_events(dossier):
            assert TRANSITION_RULES[event.transition].test(event.actor, dossier), (dossier, event.transition)
            if event.transition in LAB_TRANSITIONS:
                assert LaboratoryMembership.objects.filter(
                    user=event.actor, laboratory=dossier.laboratory
                ).exists(), (dossier, event)


def test_laboratory_is_the_territory_one_once_finalised(dossiers):
    laboratories = set()
    for dossier in dossiers:
        if "finalise" in PATHS[dossier.status]:
            assert dossier.laboratory == laboratory_for(dossier)
            laboratories.add(dossier.laboratory.code)
        else:
            assert dossier.laboratory is None
    assert laboratories == {"auragen", "seqoia"}  # both demo prescribers, so both territories


def test_each_submitted_dossier_holds_what_submission_requires(dossiers):
    submitted = [d for d in dossiers if d.status != Dossier.Status.DRAFT]
    for dossier in submitted:
        # Everything submit checks but its permission: content, RCP-FMG and attestation.
        assert not conditions.missing_for(
            dossier, dossier.submit._django_fsm.get_transition("draft").conditions
        )
        submit = transition_events(dossier)[0]
        assert dossier.attested_at == submit.at, dossier
        assert dossier.steps_done == [s for s in drafting.STEPS if s != "validation"]
        assert dossier.clinical_summary and dossier.age_at_onset
    rare = [d for d in submitted if d.pre_indication_version.pre_indication.category == "rare_disease"]
    assert rare and all(any(p.present for p in d.phenotypes.all()) for d in rare)


def test_drafts_stop_somewhere_along_the_journey(dossiers):
    drafts = [d for d in dossiers if d.status == Dossier.Status.DRAFT]
    for dossier in drafts:
        assert dossier.attested_at is None
        assert dossier.steps_done == list(drafting.STEPS[: len(dossier.steps_done)])
        assert 2 <= len(dossier.steps_done) <= 5
        assert bool(dossier.family_structure) == ("famille" in dossier.steps_done)
        assert bool(dossier.clinical_summary) == ("clinique" in dossier.steps_done)


def test_each_dossier_is_consistent_with_its_fiche(dossiers):
    for dossier in dossiers:
        roles = [p.relationship for p in dossier.persons.all()]
        assert roles in (["index"], ["index", "mother", "father"]), dossier
        if dossier.family_structure:
            assert conditions.family_consistent(dossier), dossier
        for condition in (
            conditions.has_index_case,
            conditions.rcp_may_validate,
            conditions.criteria_answered,
        ):
            assert condition(dossier), (dossier, condition)
        version = dossier.pre_indication_version
        assert version.pre_indication.current_version() == version
        assert version.effective_from <= timezone.localdate(dossier.created_at)
        assert dossier.prescriber.username in ("prescriber", "prescriber2")
        assert dossier.establishment == dossier.prescriber.establishment


def test_references_are_unique_and_carry_the_creation_year(dossiers):
    references = [d.reference for d in dossiers]
    assert len(set(references)) == len(references)
    for dossier in dossiers:
        match = REFERENCE.match(dossier.reference)
        assert match, dossier.reference
        assert int(match[1]) == timezone.localtime(dossier.created_at).year


def test_seeded_dossiers_carry_on_through_the_real_service(dossiers):
    users = {u.username: u for u in User.objects.all()}
    casts = {
        "seqoia": Cast(
            users["prescriber"], users["coordinator"], users["lab_seqoia"], users["biologist_seqoia"]
        ),
        "auragen": Cast(
            users["prescriber2"], users["coordinator"], users["lab_auragen"], users["biologist_auragen"]
        ),
    }
    full_path = PATHS[Dossier.Status.CLOSED]
    for draft in Dossier.objects.filter(status=Dossier.Status.DRAFT):
        # A draft with every step done can be attested and submitted; one without its family cannot.
        prescriber = draft.prescriber
        if drafting.next_step(draft) == "validation":
            drafting.attest_and_submit(dossier=draft, prescriber=prescriber, rcp=draft.rcp)
            assert draft.status == Dossier.Status.SUBMITTED
        elif "famille" not in draft.steps_done:
            with pytest.raises(TransitionRefused, match="structure familiale"):
                drafting.attest_and_submit(dossier=draft, prescriber=prescriber, rcp=draft.rcp)
    for status in PATHS:
        done = PATHS[status]
        if (
            status in Dossier.FINAL_STATES
            or status == Dossier.Status.DRAFT
            or done[-1:] == ["request_more_info"]
        ):
            continue
        dossier = Dossier.objects.filter(status=status).first()
        cast = casts[laboratory_for(dossier).code]
        name = full_path[len(done)]
        if name == "finalise":
            route_dossier(dossier=dossier, actor=cast.prescriber)
        for app_demo in APP_DEMOS:  # what each app requires of the transition (samples, report…)
            app_demo.prepare(name, dossier, cast, timezone.now())
        if name == "sign_report":
            # A report is signed through its service, with a strong authentication of the biologist.
            from labs.models import Report
            from labs.services import sign_report

            draft = (
                Report.objects.filter(dossier=dossier, signed_at__isnull=True).order_by("-version").first()
            )
            sign_report(report=draft, actor=cast.biologist, strong_auth_at=timezone.now())
            assert dossier.events.latest("at", "id").from_status == status
            continue
        event = transition_dossier(dossier=dossier, name=name, actor=cast.actor_for(name))
        assert event.from_status == status


def test_a_second_run_adds_as_many_again_drawn_the_same_way(dossiers):
    output = seed()
    assert re.search(r"Created 60 dossiers in [\d.]+s: \d+ dossiers/second\.", output)
    assert Dossier.objects.count() == 120
    assert Dossier.objects.values("reference").distinct().count() == 120
    assert DossierPerson.objects.filter(relationship="index").count() == 120
    again = list(Dossier.objects.exclude(pk__in=[d.pk for d in dossiers]).order_by("reference"))

    def drawn(d: Dossier) -> tuple:
        return d.status, d.prescriber_id, d.pre_indication_version_id, d.rcp_id, d.created_at

    assert [drawn(d) for d in again] == [drawn(d) for d in dossiers]  # same seed, same day: same dossiers
    seed(seed=2)
    assert [drawn(d) for d in Dossier.objects.order_by("reference")[120:]] != [drawn(d) for d in dossiers]


def test_required_documents_are_stored_like_uploads(monkeypatch):
    # Few fiches ask for documents: prescribe only one that does (what it asks is in the shipped catalogue).
    version = next(
        v
        for v in PreIndicationVersion.objects.filter(documents__required=True).distinct()
        if v.pre_indication.current_version() == v
    )
    expected = [d.label for d in version.documents.filter(required=True).order_by("position", "pk")]
    monkeypatch.setattr(seed_scale.Planner, "_versions_in_force", lambda self, day: [version])
    seed(dossiers=20)
    for dossier in Dossier.objects.prefetch_related("documents", "events"):
        documents = list(dossier.documents.order_by("uploaded_at"))
        if "documents" not in dossier.steps_done:
            assert not documents
            continue
        assert [d.label for d in documents] == expected
        assert conditions.required_documents_present(dossier)
        notes = [e for e in dossier.events.all() if e.kind == DossierEvent.Kind.NOTE]
        assert [(n.at, n.actor_id) for n in notes] == [(d.uploaded_at, d.uploaded_by_id) for d in documents]
        for document in documents:
            with default_storage.open(document.file.name, "rb") as stored:
                content = stored.read()
            assert content.startswith(b"%PDF-") and len(content) == document.size
            assert hashlib.sha256(content).hexdigest() == document.sha256
            assert document.file.name.startswith(f"dossiers/{dossier.reference}/")


def test_refuses_outside_demo_mode(settings):
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="demo mode"):
        seed()
    assert not Dossier.objects.exists()
