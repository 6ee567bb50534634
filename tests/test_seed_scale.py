"""seed_scale: synthetic dossiers in bulk, whose histories the state machine and the rules would have accepted.

On PostgreSQL (CI) these tests go through COPY with sequence-reserved ids; on SQLite through executemany: the
same rows either way."""

import hashlib
import io
import re

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consent.selectors import missing_consents
from labs import conditions as lab_conditions
from labs.models import Report, Sample, SequencingRun, Shipment
from labs.services import laboratory_for, route_dossier
from people.models import LaboratoryMembership, RcpMembership, User
from pfmg.demo import APP_DEMOS, PATHS, REASONS, Cast
from pfmg.management.commands import seed_scale
from prescriptions import conditions, drafting
from prescriptions.models import Dossier, DossierEvent, DossierPerson, Patient, PreIndicationVersion
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


def seed(dossiers: int = 60, seed: int = 1, batch: int = 5000) -> str:
    out = io.StringIO()
    call_command("seed_scale", dossiers=dossiers, seed=seed, batch=batch, stdout=out)
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


def drawn(dossier: Dossier) -> tuple:
    return (
        dossier.status,
        dossier.prescriber_id,
        dossier.pre_indication_version_id,
        dossier.rcp_id,
        dossier.created_at,
    )


def wipe() -> None:
    """Remove every seeded dossier and person (samples first: they protect the persons they were taken from)."""
    Sample.objects.all().delete()
    Shipment.objects.all().delete()
    Dossier.objects.all().delete()
    Patient.objects.all().delete()


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
        # When the dossier entered its status is its last transition (its creation for a draft).
        assert dossier.status_since == (transitions[-1].at if transitions else dossier.created_at), dossier
        times = [e.at for e in events]
        assert dossier.updated_at == times[-1]  # last activity, as the services keep it
        assert times == sorted(times) and len(set(times)) == len(times), dossier
        assert times[-1] < now
        kinds = [e.transition or e.kind for e in events]
        consents = [e for e in events if e.reason.startswith("Consentement enregistré")]
        # One note per upload and one per consent, as the services write them.
        assert kinds.count(DossierEvent.Kind.NOTE) == len(dossier.documents.all()) + len(consents)
        if "finalise" in kinds:
            # Consents first, then routed by territory just before the prescriber finalises, as
            # labs.services.route_dossier does.
            at = kinds.index("finalise")
            assert kinds[at - 1] == DossierEvent.Kind.ROUTED
            assert len(consents) == len(dossier.persons.all())
            assert all(kinds[at - 2 - n] == DossierEvent.Kind.NOTE for n in range(len(consents)))
        else:
            assert DossierEvent.Kind.ROUTED not in kinds and not consents


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
    assert laboratories == {"auragen", "seqoia"}  # prescribers all over France: both territories


def test_what_each_step_required_is_there_as_its_service_left_it(dossiers):
    """The consents finalising requires, the samples, run, interpreter and signed report of the laboratory
    steps: for every step a dossier went through, the real requirement holds on the seeded rows."""
    seen = set()
    for dossier in dossiers:
        path = PATHS[dossier.status]
        if "finalise" in path:
            assert missing_consents(dossier) == [], dossier
            seen.add("consents")
        else:
            assert not DossierPerson.objects.filter(dossier=dossier, consent__isnull=False).exists()
        samples = list(Sample.objects.filter(dossier=dossier))
        if "ship_samples" in path:
            shipped_at = next(e.at for e in transition_events(dossier) if e.transition == "ship_samples")
            assert len(samples) == len(dossier.persons.all())
            assert list(Shipment.objects.filter(dossier=dossier).values_list("declared_at", flat=True)) == [
                shipped_at
            ]
            seen.add("samples")
        else:
            assert not samples
        if "receive" in path:
            assert lab_conditions.samples_conform(dossier) == [], dossier
        elif samples:
            assert {s.check_result for s in samples} == {Sample.Check.PENDING}
        assert ("start_sequencing" in path) == SequencingRun.objects.filter(dossier=dossier).exists()
        if "start_analysis" in path:
            assert lab_conditions.interpreter_assigned(dossier) == [], dossier
        if "sign_report" in path:
            assert lab_conditions.report_signed(dossier) == [], dossier
            report = Report.objects.get(dossier=dossier)
            sign = next(e for e in transition_events(dossier) if e.transition == "sign_report")
            assert (report.signed_by_id, report.signed_at) == (sign.actor_id, sign.at)
            assert report.intact()  # the shared file is the one whose hash was signed
            seen.add("reports")
        else:
            assert not Report.objects.filter(dossier=dossier).exists()
    assert seen == {"consents", "samples", "reports"}


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
        assert dossier.establishment == dossier.prescriber.establishment


def test_spread_over_many_people_with_a_share_for_the_demo_cast():
    seed(dossiers=400)
    by_prescriber = Dossier.objects.values_list("prescriber__username", flat=True)
    synthetic = {name for name in by_prescriber if name.startswith("synth.prescriber.")}
    assert len(synthetic) >= 8  # one synthetic prescriber per ~750 dossiers, never fewer than eight
    # The demo coordinator's RCP-FMG (Île-de-France, Auvergne-Rhône-Alpes, cancers) get a real share, and
    # other regions' RCP-FMG, with their own coordinators, the rest.
    coordinator = User.objects.get(username="coordinator")
    theirs = Dossier.objects.filter(rcp__memberships__user=coordinator).count()
    assert 0 < theirs < 400
    for rcp_id in Dossier.objects.values_list("rcp", flat=True).distinct():
        assert RcpMembership.objects.filter(rcp_id=rcp_id, function="coordinator").exists()
    # Each laboratory has about half of what was routed.
    routed = Dossier.objects.filter(laboratory__isnull=False)
    seqoia = routed.filter(laboratory__code="seqoia").count()
    assert 0.3 < seqoia / routed.count() < 0.7
    # Synthetic people share one password hash, never computed per user.
    hashes = set(User.objects.filter(username__startswith="synth.").values_list("password", flat=True))
    assert len(hashes) == 1


def test_references_are_unique_and_carry_the_creation_year(dossiers):
    references = [d.reference for d in dossiers]
    assert len(set(references)) == len(references)
    for dossier in dossiers:
        match = REFERENCE.match(dossier.reference)
        assert match, dossier.reference
        assert int(match[1]) == timezone.localtime(dossier.created_at).year


def _cast_of(dossier: Dossier) -> Cast:
    """Who acts on a seeded dossier: its prescriber, its RCP-FMG's coordinator, its laboratory's people."""
    members = LaboratoryMembership.objects.filter(laboratory=laboratory_for(dossier)).order_by(
        "user__username"
    )
    return Cast(
        dossier.prescriber,
        RcpMembership.objects.filter(rcp=dossier.rcp, function="coordinator").first().user,
        members.filter(function="staff").first().user,
        members.filter(function="biologist").first().user,
    )


def test_seeded_dossiers_carry_on_through_the_real_service(dossiers):
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
        cast = _cast_of(dossier)
        name = full_path[len(done)]
        if name == "finalise":
            route_dossier(dossier=dossier, actor=cast.prescriber)
        for app_demo in APP_DEMOS:  # what each app requires of the transition (samples, report…)
            app_demo.prepare(name, dossier, cast, timezone.now())
        if name == "sign_report":
            # A report is signed through its service, with a strong authentication of the biologist.
            from labs.services import sign_report

            draft = (
                Report.objects.filter(dossier=dossier, signed_at__isnull=True).order_by("-version").first()
            )
            sign_report(report=draft, actor=cast.biologist, strong_auth_at=timezone.now())
            assert dossier.events.latest("at", "id").from_status == status
            continue
        event = transition_dossier(dossier=dossier, name=name, actor=cast.actor_for(name))
        assert event.from_status == status


def test_the_total_counts_what_is_there_and_the_same_seed_draws_the_same(dossiers):
    output = seed(dossiers=100)
    assert re.search(r"Created 40 dossiers in [\d.]+s: \d+ dossiers/second\.", output)
    assert Dossier.objects.count() == 100
    assert Dossier.objects.values("reference").distinct().count() == 100
    assert DossierPerson.objects.filter(relationship="index").count() == 100
    assert "nothing to add" in seed(dossiers=100)
    assert Dossier.objects.count() == 100
    # Drawn from the ordinal and the seed: the same arguments on an empty database give the same dossiers.
    before = sorted(map(drawn, Dossier.objects.all()))
    wipe()
    seed(dossiers=100)
    assert sorted(map(drawn, Dossier.objects.all())) == before
    wipe()
    seed(dossiers=100, seed=2)
    assert sorted(map(drawn, Dossier.objects.all())) != before


def test_an_interrupted_load_resumes_where_it_stopped(monkeypatch):
    written = []
    flush = seed_scale.Writer.flush

    def third_batch_fails(payloads, *args):
        if len(written) == 2:
            raise RuntimeError("interrupted")
        written.append(1)
        return flush(payloads, *args)

    monkeypatch.setattr(seed_scale.Writer, "flush", staticmethod(third_batch_fails))
    with pytest.raises(RuntimeError, match="interrupted"):
        seed(dossiers=50, batch=10)
    assert Dossier.objects.count() == 20  # two batches, each its own transaction; the third rolled back
    monkeypatch.setattr(seed_scale.Writer, "flush", staticmethod(flush))
    output = seed(dossiers=50, batch=10)
    assert "Seeding dossiers 21 to 50" in output
    assert Dossier.objects.count() == 50
    assert Dossier.objects.values("reference").distinct().count() == 50
    assert not Dossier.objects.filter(events__isnull=True).exists()
    resumed = sorted(map(drawn, Dossier.objects.all()))
    # What an uninterrupted load writes.
    wipe()
    seed(dossiers=50, batch=25)
    assert sorted(map(drawn, Dossier.objects.all())) == resumed


def test_rows_bypass_the_query_log(settings):
    """With DEBUG on, Django keeps every query it runs: the rows must not go through it (965 MB at 300k)."""
    settings.DEBUG = True
    seed(dossiers=5)  # the reference data, demo people and synthetic ones: logged, once
    with CaptureQueriesContext(connection) as queries:
        seed(dossiers=45, batch=10)
    assert Dossier.objects.count() == 45
    assert not [q for q in queries if q["sql"].startswith('INSERT INTO "prescriptions_dossierevent"')]
    assert sum(len(q["sql"]) for q in queries) < 200_000


def test_required_documents_point_to_one_stored_file_per_kind(monkeypatch):
    # Few fiches ask for documents: prescribe only one that does (what it asks is in the shipped catalogue).
    version = next(
        v
        for v in PreIndicationVersion.objects.filter(documents__required=True).distinct()
        if v.pre_indication.current_version() == v
    )
    expected = [d.label for d in version.documents.filter(required=True).order_by("position", "pk")]
    monkeypatch.setattr(seed_scale.Planner, "_versions_in_force", lambda self, day: [version])
    seed(dossiers=20)
    names = set()
    for dossier in Dossier.objects.prefetch_related("documents", "events"):
        documents = list(dossier.documents.order_by("uploaded_at"))
        if "documents" not in dossier.steps_done:
            assert not documents
            continue
        assert [d.label for d in documents] == expected
        assert conditions.required_documents_present(dossier)
        notes = [e for e in dossier.events.all() if e.reason.startswith("Document déposé")]
        assert [(n.at, n.actor_id) for n in notes] == [(d.uploaded_at, d.uploaded_by_id) for d in documents]
        for document in documents:
            with default_storage.open(document.file.name, "rb") as stored:
                content = stored.read()
            assert content.startswith(b"%PDF-") and len(content) == document.size
            assert hashlib.sha256(content).hexdigest() == document.sha256
            names.add(document.file.name)
    assert len(names) == len(expected)  # shared, not one file per dossier


def test_trusting_the_keys_is_for_a_postgresql_superuser_and_writes_the_same_rows():
    if connection.vendor != "postgresql":
        with pytest.raises(CommandError, match="for PostgreSQL"):
            call_command("seed_scale", dossiers=10, trust_keys=True, stdout=io.StringIO())
        return
    call_command("seed_scale", dossiers=30, trust_keys=True, stdout=io.StringIO())
    trusted = sorted(map(drawn, Dossier.objects.all()))
    assert len(trusted) == 30
    # What the skipped checks would have looked for: a key pointing nowhere.
    assert not DossierEvent.objects.exclude(actor_id__in=User.objects.values("pk")).exists()
    assert not DossierPerson.objects.exclude(patient_id__in=Patient.objects.values("pk")).exists()
    assert not Sample.objects.exclude(person_id__in=DossierPerson.objects.values("pk")).exists()
    assert not Sample.objects.exclude(shipment_id__in=Shipment.objects.values("pk")).exists()
    wipe()
    seed(dossiers=30, seed=42)
    assert sorted(map(drawn, Dossier.objects.all())) == trusted


def test_refuses_outside_demo_mode(settings):
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="demo mode"):
        seed()
    assert not Dossier.objects.exists()
