"""The dossier's state machine: legal paths, refusals with their reasons, separation of duty, the log, conflicts."""

import datetime as dt
import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection, connections
from django.utils import timezone
from django_fsm import can_proceed, has_transition_perm

from labs import demo as labs_demo
from labs.services import route_dossier
from people.models import Laboratory, LaboratoryMembership, RcpMembership, Role, Territory
from pfmg.demo import PATHS, Cast, walk
from prescriptions.drafting import attest_and_submit
from prescriptions.models import Dossier, DossierEvent
from prescriptions.services import (
    TransitionConflict,
    TransitionNotPermitted,
    TransitionRefused,
    actions_for,
    transition_dossier,
)
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status


@pytest.fixture
def cast(db, reference_data):
    rcp = f.rcp_body()
    return Cast(
        prescriber=f.prescriber(),  # Paris: SeqOIA's territory
        coordinator=f.coordinator(rcp),
        lab_staff=f.lab_member("seqoia"),
        biologist=f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST),
    )


def new_dossier(cast, **kwargs):
    kwargs.setdefault("rcp", cast.coordinator.rcp_memberships.get().rcp)
    return f.dossier(prescriber_user=cast.prescriber, **kwargs)


def submit(dossier, prescriber):
    """The prescriber attests and submits (the only way a dossier leaves the draft)."""
    attest_and_submit(dossier=dossier, prescriber=prescriber, rcp=dossier.rcp)


def transition_events(dossier):
    return list(dossier.events.filter(kind=DossierEvent.Kind.TRANSITION).order_by("at", "id"))


@pytest.mark.parametrize("target", list(PATHS))
def test_every_status_is_reachable_and_each_transition_is_logged_once(cast, target):
    dossier = new_dossier(cast)
    walk(dossier, PATHS[target], cast, timezone.now() - dt.timedelta(days=60), dt.timedelta(days=1))

    dossier.refresh_from_db()
    assert dossier.status == target
    events = transition_events(dossier)
    assert [e.transition for e in events] == PATHS[target]
    previous = S.DRAFT
    for event in events:
        assert event.from_status == previous
        assert event.actor == cast.actor_for(event.transition)
        previous = event.to_status
    assert previous == target


def test_an_illegal_transition_is_refused_clearly_and_changes_nothing(cast):
    dossier = new_dossier(cast)
    assert not can_proceed(dossier.validate)
    with pytest.raises(TransitionRefused, match="Brouillon"):
        transition_dossier(dossier=dossier, name="validate", actor=cast.coordinator)
    dossier.refresh_from_db()
    assert dossier.status == S.DRAFT
    assert transition_events(dossier) == []


def test_the_status_cannot_be_assigned_directly(cast):
    dossier = new_dossier(cast)
    with pytest.raises(AttributeError):
        dossier.status = S.CLOSED


def test_an_unknown_action_name_is_refused(cast):
    dossier = new_dossier(cast)
    with pytest.raises(TransitionRefused, match="n'est pas une action"):
        transition_dossier(dossier=dossier, name="delete", actor=cast.prescriber)


def test_submit_says_what_is_missing(cast):
    dossier = new_dossier(cast, with_index=False, rcp=False, complete=False)
    assert not can_proceed(dossier.submit)
    with pytest.raises(TransitionRefused) as refused:
        transition_dossier(dossier=dossier, name="submit", actor=cast.prescriber)
    for reason in (
        "Le cas index n'est pas renseigné.",
        "La structure familiale n'est pas renseignée.",
        "Aucune RCP-FMG n'est choisie.",
        "Le prescripteur n'a pas attesté la prescription.",
    ):
        assert reason in refused.value.reasons
    action = next(a for a in actions_for(dossier, cast.prescriber) if a.name == "submit")
    assert not action.allowed and "Le cas index n'est pas renseigné." in action.reasons


def test_an_rcp_that_does_not_cover_the_pre_indication_cannot_receive_it(cast):
    local = f.rcp_body(multi_theme_rare_disease=False)
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=local)
    with pytest.raises(TransitionRefused, match="ne valide pas cette pré-indication"):
        submit(dossier, cast.prescriber)
    assert dossier.status == S.DRAFT and dossier.attested_at is None  # nothing half-written
    local.pre_indications.add(dossier.pre_indication_version.pre_indication)
    submit(dossier, cast.prescriber)
    assert dossier.status == S.SUBMITTED and dossier.rcp == local


def test_only_the_prescriber_submits_and_an_assistant_never_attests(cast):
    assistant = f.assistant_for(cast.prescriber)
    dossier = new_dossier(cast, entered_by=assistant)
    assert not has_transition_perm(dossier.submit, assistant)
    with pytest.raises(TransitionNotPermitted):
        transition_dossier(dossier=dossier, name="submit", actor=assistant)
    with pytest.raises(PermissionDenied, match="Seul le prescripteur"):
        attest_and_submit(dossier=dossier, prescriber=assistant, rcp=dossier.rcp)
    assert dossier.attested_at is None
    submit(dossier, cast.prescriber)
    assert dossier.status == S.SUBMITTED
    event = dossier.events.get(transition="submit")
    assert event.actor == cast.prescriber and dossier.entered_by == assistant


def test_a_coordinator_may_not_validate_a_dossier_they_prescribed(cast):
    rcp = cast.coordinator.rcp_memberships.get().rcp
    prescriber_coordinator = f.prescriber()
    f.coordinator(rcp, user=prescriber_coordinator)
    dossier = f.dossier(prescriber_user=prescriber_coordinator, rcp=rcp)
    submit(dossier, prescriber_coordinator)

    for name in ("validate", "reject", "request_more_info"):
        assert not has_transition_perm(getattr(dossier, name), prescriber_coordinator)
    assert has_transition_perm(dossier.validate, cast.coordinator)
    with pytest.raises(TransitionNotPermitted, match="ni le prescripteur"):
        transition_dossier(dossier=dossier, name="validate", actor=prescriber_coordinator)


def test_a_coordinator_may_not_validate_a_dossier_they_entered(cast):
    rcp = cast.coordinator.rcp_memberships.get().rcp
    deputy = f.coordinator(rcp, function=RcpMembership.Function.DEPUTY)
    deputy.groups.add(*f.UserFactory(roles=[Role.PRESCRIPTION_ASSISTANT]).groups.all())
    dossier = new_dossier(cast, entered_by=deputy)
    submit(dossier, cast.prescriber)
    assert not has_transition_perm(dossier.validate, deputy)
    assert has_transition_perm(dossier.validate, cast.coordinator)


def test_a_deputy_decides_and_a_plain_member_does_not(cast):
    rcp = cast.coordinator.rcp_memberships.get().rcp
    deputy = f.coordinator(rcp, function=RcpMembership.Function.DEPUTY)
    member = f.coordinator(rcp, function=RcpMembership.Function.MEMBER)
    other_rcp_coordinator = f.coordinator(f.rcp_body())
    dossier = new_dossier(cast)
    submit(dossier, cast.prescriber)
    assert has_transition_perm(dossier.validate, deputy)
    assert not has_transition_perm(dossier.validate, member)
    assert not has_transition_perm(dossier.validate, other_rcp_coordinator)


def test_a_superuser_cannot_bypass_the_separation_of_duty(cast):
    admin = f.UserFactory(is_superuser=True, is_staff=True, roles=[Role.ADMINISTRATOR])
    dossier = new_dossier(cast)
    submit(dossier, cast.prescriber)
    assert not has_transition_perm(dossier.validate, admin)
    assert has_transition_perm(dossier.cancel, admin)


def test_laboratory_actions_belong_to_the_dossier_laboratory(cast):
    dossier = new_dossier(cast)
    walk(dossier, PATHS[S.SAMPLES_SHIPPED], cast, timezone.now(), dt.timedelta(minutes=1))
    assert dossier.laboratory.code == "seqoia"
    auragen_staff = f.lab_member("auragen")
    assert not has_transition_perm(dossier.receive, auragen_staff)
    with pytest.raises(TransitionNotPermitted, match="laboratoire du dossier"):
        transition_dossier(dossier=dossier, name="receive", actor=auragen_staff)
    assert has_transition_perm(dossier.receive, cast.lab_staff)
    assert not has_transition_perm(dossier.receive, cast.prescriber)


def test_only_a_biologist_of_the_laboratory_signs(cast):
    dossier = new_dossier(cast)
    walk(dossier, PATHS[S.ANALYSIS], cast, timezone.now(), dt.timedelta(minutes=1))
    labs_demo.prepare("sign_report", dossier, cast, timezone.now())  # a report awaiting signature
    other_biologist = f.lab_member("auragen", LaboratoryMembership.Function.BIOLOGIST)
    assert not has_transition_perm(dossier.sign_report, cast.lab_staff)
    assert not has_transition_perm(dossier.sign_report, other_biologist)
    assert has_transition_perm(dossier.sign_report, cast.biologist)


def test_finalise_needs_a_laboratory(cast):
    # Validation routes by territory (labs): a region without a laboratory leaves the dossier unrouted.
    Territory.objects.filter(region__departments__code="75").delete()
    dossier = new_dossier(cast)
    walk(dossier, PATHS[S.RCP_VALIDATED], cast, timezone.now(), dt.timedelta(minutes=1))
    assert not can_proceed(dossier.finalise)
    with pytest.raises(TransitionRefused, match="Aucun laboratoire"):
        transition_dossier(dossier=dossier, name="finalise", actor=cast.prescriber)
    seqoia = Laboratory.objects.get(code="seqoia")
    route_dossier(dossier=dossier, actor=cast.coordinator, laboratory=seqoia, reason="Hors territoire")
    finalise = next(a for a in actions_for(dossier, cast.prescriber) if a.name == "finalise")
    assert not any("laboratoire" in reason for reason in finalise.reasons)  # what else it needs is others


def test_reject_samples_sends_the_dossier_back_to_finalised_with_its_reason(cast):
    dossier = new_dossier(cast)
    walk(dossier, PATHS[S.SAMPLES_SHIPPED], cast, timezone.now(), dt.timedelta(minutes=1))
    with pytest.raises(TransitionRefused, match="motif"):
        transition_dossier(dossier=dossier, name="reject_samples", actor=cast.lab_staff)
    event = transition_dossier(
        dossier=dossier, name="reject_samples", actor=cast.lab_staff, reason="Tube hémolysé"
    )
    assert dossier.status == S.FINALISED
    assert event.reason == "Tube hémolysé"


def test_cancel_needs_a_reason_and_is_impossible_once_received(cast):
    dossier = new_dossier(cast)
    with pytest.raises(TransitionRefused, match="motif"):
        transition_dossier(dossier=dossier, name="cancel", actor=cast.prescriber, reason="  ")
    assert Dossier.objects.get(pk=dossier.pk).status == S.DRAFT

    received = new_dossier(cast)
    walk(received, PATHS[S.RECEIVED], cast, timezone.now(), dt.timedelta(minutes=1))
    assert not can_proceed(received.cancel)
    assert can_proceed(received.withdraw)


@pytest.mark.parametrize("final", [S.RCP_REJECTED, S.CLOSED, S.CANCELLED, S.WITHDRAWN])
def test_nothing_leaves_a_final_state(cast, final):
    dossier = new_dossier(cast)
    walk(dossier, PATHS[final], cast, timezone.now(), dt.timedelta(minutes=1))
    assert [a.name for a in actions_for(dossier, cast.prescriber)] == []


def test_withdraw_is_possible_from_every_state_that_is_not_final():
    final = set(Dossier.FINAL_STATES)
    assert set(Dossier.WITHDRAWABLE_STATES) == {s for s in S if s not in final}


def test_a_stale_copy_gets_a_conflict_and_the_winner_is_kept(cast):
    dossier = new_dossier(cast)
    submit(dossier, cast.prescriber)
    mine = Dossier.objects.get(pk=dossier.pk)
    theirs = Dossier.objects.get(pk=dossier.pk)
    transition_dossier(dossier=mine, name="validate", actor=cast.coordinator)
    with pytest.raises(TransitionConflict, match="modifié par quelqu'un d'autre"):
        transition_dossier(dossier=theirs, name="reject", actor=cast.coordinator, reason="Non éligible")
    assert Dossier.objects.get(pk=dossier.pk).status == S.RCP_VALIDATED
    assert [e.transition for e in transition_events(dossier)] == ["submit", "validate"]
    assert theirs.status == S.RCP_VALIDATED  # refreshed so the interface shows the truth


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_connections_at_once_one_wins_the_other_is_told(reference_data):
    """Two coordinators decide the same dossier at the same moment on PostgreSQL: exactly one decision holds."""
    rcp = f.rcp_body()
    cast = Cast(f.prescriber(), f.coordinator(rcp), f.lab_member("seqoia"), f.lab_member("seqoia"))
    deputy = f.coordinator(rcp, function=RcpMembership.Function.DEPUTY)
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=rcp)
    submit(dossier, cast.prescriber)
    assert connection.vendor == "postgresql"

    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(name: str, actor, reason: str) -> None:
        try:
            copy = Dossier.objects.get(pk=dossier.pk)  # each thread has its own connection
            barrier.wait(timeout=10)
            transition_dossier(dossier=copy, name=name, actor=actor, reason=reason)
            outcomes[name] = "won"
        except TransitionConflict:
            outcomes[name] = "conflict"
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=decide, args=("validate", cast.coordinator, "")),
        threading.Thread(target=decide, args=("reject", deputy, "Critères non remplis")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert sorted(outcomes.values()) == ["conflict", "won"], outcomes
    winner = next(name for name, outcome in outcomes.items() if outcome == "won")
    dossier.refresh_from_db()
    assert dossier.status == {"validate": S.RCP_VALIDATED, "reject": S.RCP_REJECTED}[winner]
    assert [e.transition for e in transition_events(dossier)] == ["submit", winner]
