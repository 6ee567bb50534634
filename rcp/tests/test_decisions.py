"""Decisions of the RCP d'amont: recorded with their transition, refused with a clear message, final once
recorded, reaching the prescriber; separation of duty; two deciders at once."""

import datetime as dt
import threading

import pytest
from django.db import connection, connections
from django.utils import timezone
from django_fsm import has_transition_perm

from notifications.models import Notification
from pfmg.demo import PATHS, walk
from prescriptions.models import Dossier
from prescriptions.services import transition_dossier
from rcp import selectors, services
from rcp.models import Decision, DecisionCorrection, DownstreamConclusion
from tests import factories as f

from .conftest import submitted

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status


def test_a_favourable_decision_validates_the_dossier_and_is_recorded_on_its_meeting(cast, rcp, meeting):
    dossier = submitted(cast, rcp)
    services.add_to_agenda(meeting=meeting, dossiers=[dossier], actor=cast.coordinator)
    decision = services.record_decision(
        dossier=dossier, kind="validate", actor=cast.coordinator, meeting=meeting
    )
    dossier.refresh_from_db()
    assert dossier.status == S.RCP_VALIDATED
    assert decision.meeting == meeting and decision.recorded_by == cast.coordinator
    assert decision.event.transition == "validate" and decision.event.actor == cast.coordinator
    assert list(Decision.objects.filter(dossier=dossier)) == [decision]  # one row, not two


@pytest.mark.parametrize(
    ("kind", "message"),
    [("reject", "Un avis défavorable doit être motivé"), ("request_more_info", "Indiquez les questions")],
)
def test_a_decision_without_its_required_reason_is_refused_and_changes_nothing(cast, rcp, kind, message):
    dossier = submitted(cast, rcp)
    with pytest.raises(services.RcpRefused, match=message):
        services.record_decision(dossier=dossier, kind=kind, actor=cast.coordinator, reason="   ")
    dossier.refresh_from_db()
    assert dossier.status == S.SUBMITTED
    assert not Decision.objects.exists()


def test_a_decision_on_a_dossier_no_longer_awaiting_it_is_refused_saying_who_decided(cast, rcp, deputy):
    dossier = submitted(cast, rcp)
    stale = Dossier.objects.get(pk=dossier.pk)  # the page the deputy opened before the coordinator decided
    services.record_decision(dossier=dossier, kind="validate", actor=cast.coordinator)
    with pytest.raises(services.RcpRefused) as refused:
        services.record_decision(dossier=stale, kind="reject", actor=deputy, reason="Bilan incomplet")
    assert "n'attend plus de décision" in refused.value.message
    assert "Validé en RCP d'amont" in refused.value.message
    assert "Avis favorable" in refused.value.message and str(cast.coordinator) in refused.value.message
    assert Decision.objects.filter(dossier=dossier).count() == 1


def test_separation_of_duty_a_prescriber_who_coordinates_the_rcp_may_not_validate_their_own_dossier(
    cast, rcp
):
    prescriber_coordinator = f.coordinator(rcp, user=cast.prescriber)
    dossier = submitted(cast, rcp)
    assert not has_transition_perm(dossier.validate, prescriber_coordinator)
    assert not has_transition_perm(dossier.reject, prescriber_coordinator)
    assert has_transition_perm(dossier.validate, cast.coordinator)
    with pytest.raises(services.RcpRefused, match="ni le prescripteur"):
        services.record_decision(dossier=dossier, kind="validate", actor=prescriber_coordinator)
    # Nor the assistant who entered it, were they a deputy of the RCP.
    assistant = f.assistant_for(cast.prescriber)
    entered = f.dossier(prescriber_user=cast.prescriber, entered_by=assistant, rcp=rcp)
    from prescriptions.drafting import attest_and_submit

    attest_and_submit(dossier=entered, prescriber=cast.prescriber, rcp=rcp)
    f.coordinator(rcp, user=assistant)
    assert not has_transition_perm(entered.validate, assistant)
    with pytest.raises(services.RcpRefused):
        services.record_decision(dossier=entered, kind="validate", actor=assistant)
    assert Dossier.objects.get(pk=entered.pk).status == S.SUBMITTED


def test_a_member_or_another_rcp_s_coordinator_may_not_decide(cast, rcp, member):
    dossier = submitted(cast, rcp)
    elsewhere = f.coordinator(f.rcp_body())
    for user in (member, elsewhere):
        with pytest.raises(services.RcpRefused, match="coordinateur ou le suppléant"):
            services.record_decision(dossier=dossier, kind="validate", actor=user)
    assert Dossier.objects.get(pk=dossier.pk).status == S.SUBMITTED


@pytest.mark.parametrize("kind", ["reject", "request_more_info"])
def test_rejections_and_questions_reach_the_prescriber(cast, rcp, deputy, kind):
    dossier = submitted(cast, rcp)
    services.record_decision(dossier=dossier, kind=kind, actor=deputy, reason="Arbre généalogique manquant")
    told = Notification.objects.filter(dossier=dossier, event__transition=kind)
    assert set(told.values_list("recipient", flat=True)) == {cast.prescriber.pk}
    dossier.refresh_from_db()
    assert dossier.events.get(transition=kind).reason == "Arbre généalogique manquant"


def test_postponing_keeps_the_dossier_waiting_and_sends_it_back_to_the_queue(cast, rcp, meeting):
    dossier = submitted(cast, rcp)
    services.add_to_agenda(meeting=meeting, dossiers=[dossier], actor=cast.coordinator)
    assert not selectors.queue(cast.coordinator).filter(scheduled=False).exists()
    services.record_decision(dossier=dossier, kind="postpone", actor=cast.coordinator, meeting=meeting)
    dossier.refresh_from_db()
    assert dossier.status == S.SUBMITTED
    assert list(selectors.queue(cast.coordinator).filter(scheduled=False)) == [dossier]
    later = services.create_meeting(
        rcp=rcp,
        actor=cast.coordinator,
        date=meeting.date + dt.timedelta(days=7),
        start_time=dt.time(14, 0),
        video_link="https://visio.example.org/rcp",
    )
    assert [i.dossier for i in services.propose_agenda(meeting=later, actor=cast.coordinator)] == [dossier]


def test_a_decision_is_final_a_correction_is_a_new_reasoned_record(cast, rcp):
    dossier = submitted(cast, rcp)
    decision = services.record_decision(
        dossier=dossier, kind="reject", actor=cast.coordinator, reason="Hors critère"
    )
    with pytest.raises(services.RcpRefused, match="motivée"):
        services.correct_decision(
            decision=decision, actor=cast.coordinator, text="Motif : bilan absent", reason=""
        )
    correction = services.correct_decision(
        decision=decision, actor=cast.coordinator, text="Motif : bilan absent", reason="Motif mal saisi"
    )
    decision.refresh_from_db()
    assert decision.reason == "Hors critère"  # untouched
    assert correction.decision == decision and DecisionCorrection.objects.count() == 1
    with pytest.raises(services.RcpRefused):
        services.correct_decision(decision=decision, actor=cast.prescriber, text="x", reason="y")


def test_a_decision_fired_outside_the_rcp_screens_still_gets_its_record_on_the_awaiting_meeting(
    cast, rcp, meeting
):
    """The demo's walk (and the admin) fire the transition directly: the receiver records the decision."""
    dossier = submitted(cast, rcp)
    services.add_to_agenda(meeting=meeting, dossiers=[dossier], actor=cast.coordinator)
    event = transition_dossier(
        dossier=dossier, name="request_more_info", actor=cast.coordinator, reason="Âge ?"
    )
    decision = Decision.objects.get(dossier=dossier)
    assert (decision.kind, decision.reason, decision.event, decision.meeting) == (
        "request_more_info",
        "Âge ?",
        event,
        meeting,
    )


@pytest.mark.parametrize("status", [S.MORE_INFO_REQUESTED, S.RCP_REJECTED, S.CLOSED])
def test_walked_dossiers_have_their_decisions_on_a_past_meeting(cast, rcp, status):
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=rcp)
    walk(dossier, PATHS[status], cast, timezone.now() - dt.timedelta(days=40), dt.timedelta(days=2))
    decisions = list(Decision.objects.filter(dossier=dossier))
    assert [d.kind for d in decisions] == [n for n in PATHS[status] if n in Decision.TRANSITIONS]
    assert all(d.meeting and d.meeting.date <= timezone.localdate(d.recorded_at) for d in decisions)
    if status == S.CLOSED:
        assert DownstreamConclusion.objects.get(dossier=dossier).meeting.kind == "downstream"


def test_the_close_of_a_dossier_put_on_an_rcp_d_aval_waits_for_its_conclusion(cast, rcp):
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=rcp)
    walk(
        dossier, PATHS[S.REPORT_DELIVERED], cast, timezone.now() - dt.timedelta(days=40), dt.timedelta(days=2)
    )
    downstream = services.create_meeting(
        rcp=rcp,
        actor=cast.coordinator,
        kind="downstream",
        date=timezone.localdate(),
        start_time=dt.time(9, 0),
        place="Salle 1",
    )
    services.propose_agenda(meeting=downstream, actor=cast.coordinator)
    assert [i.dossier for i in downstream.items.all()] == [dossier]
    from prescriptions.services import TransitionRefused

    with pytest.raises(TransitionRefused, match="conclusion de la RCP d'aval"):
        transition_dossier(dossier=dossier, name="close", actor=cast.prescriber)
    with pytest.raises(services.RcpRefused, match="interprétation"):
        services.record_conclusion(
            dossier=dossier, actor=cast.coordinator, interpretation=" ", meeting=downstream
        )
    services.record_conclusion(
        dossier=dossier,
        actor=cast.coordinator,
        meeting=downstream,
        interpretation="Variant de classe 5 retenu",
        family_recommendations="Dépistage des apparentés",
    )
    transition_dossier(dossier=dossier, name="close", actor=cast.prescriber)
    assert dossier.status == S.CLOSED


def test_agenda_refuses_dossiers_of_another_rcp_or_not_awaiting(cast, rcp, meeting):
    other = f.dossier(prescriber_user=cast.prescriber, rcp=f.rcp_body())
    with pytest.raises(services.RcpRefused, match="n'est pas adressé à cette RCP-FMG"):
        services.add_to_agenda(meeting=meeting, dossiers=[other], actor=cast.coordinator)
    draft = f.dossier(prescriber_user=cast.prescriber, rcp=rcp)
    with pytest.raises(services.RcpRefused, match="Brouillon"):
        services.add_to_agenda(meeting=meeting, dossiers=[draft], actor=cast.coordinator)
    with pytest.raises(services.RcpRefused, match="lieu"):
        services.create_meeting(
            rcp=rcp, actor=cast.coordinator, date=timezone.localdate(), start_time=dt.time(9, 0)
        )


def test_the_queue_is_oldest_first_with_days_waited_and_a_warning_past_the_threshold(cast, rcp):
    rcp.wait_warning_days = 10
    rcp.save()
    old, recent = (f.dossier(prescriber_user=cast.prescriber, rcp=rcp) for _ in range(2))
    walk(recent, ["submit"], cast, f.paris_noon(days_ago=3), dt.timedelta(hours=1))
    walk(old, ["submit"], cast, f.paris_noon(days_ago=15), dt.timedelta(hours=1))
    rows = selectors.with_waiting(selectors.queue(cast.coordinator))
    assert [d.pk for d in rows] == [old.pk, recent.pk]
    assert [(d.days_waited, d.overdue) for d in rows] == [(15, True), (3, False)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_coordinators_deciding_at_once_one_wins_the_other_is_told(reference_data):
    rcp = f.rcp_body()
    from people.models import RcpMembership
    from pfmg.demo import Cast

    cast = Cast(f.prescriber(), f.coordinator(rcp), f.lab_member("seqoia"), f.lab_member("seqoia"))
    deputy = f.coordinator(rcp, function=RcpMembership.Function.DEPUTY)
    dossier = submitted(cast, rcp)
    assert connection.vendor == "postgresql"
    barrier = threading.Barrier(2)
    outcomes: dict[str, str] = {}

    def decide(kind: str, actor, reason: str) -> None:
        try:
            copy = Dossier.objects.get(pk=dossier.pk)  # each thread has its own connection
            barrier.wait(timeout=10)
            services.record_decision(dossier=copy, kind=kind, actor=actor, reason=reason)
            outcomes[kind] = "won"
        except services.RcpRefused as exc:
            outcomes[kind] = "told: " + exc.message
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
    assert sorted(o[:4] for o in outcomes.values()) == ["told", "won"], outcomes
    loser = next(o for o in outcomes.values() if o.startswith("told"))
    assert "n'attend plus de décision" in loser
    winner = next(k for k, o in outcomes.items() if o == "won")
    assert [d.kind for d in Decision.objects.filter(dossier=dossier)] == [winner]
    assert [e.transition for e in Dossier.objects.get(pk=dossier.pk).events.exclude(transition="")] == [
        "submit",
        winner,
    ]
