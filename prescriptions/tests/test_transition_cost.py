"""What one transition costs: its conditions evaluated once, its permission tested once, and nothing rendered
or sent inside it (renders and e-mails are queued on commit, and without a broker run after the response)."""

import pytest
from django.core.signals import request_finished, request_started
from django.db import connection
from django_fsm import TransitionNotAllowed

from notifications.models import OutboxEmail
from pfmg import after_response
from prescriptions import conditions as cond
from prescriptions import rules as prescription_rules
from prescriptions.drafting import attest_and_submit
from prescriptions.models import Dossier
from prescriptions.services import TransitionRefused, transition_dossier
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status


@pytest.fixture
def rcp(db):
    return f.rcp_body()


@pytest.fixture
def coordinator(rcp):
    return f.coordinator(rcp)


@pytest.fixture
def draft(rcp, coordinator):
    return f.dossier(prescriber_user=f.prescriber(), rcp=rcp)


def counting(monkeypatch, condition: cond.Condition) -> list[int]:
    """Count the evaluations of ``condition`` (the very object the state machine holds)."""
    calls: list[int] = []
    check = condition._check

    def counted(dossier):
        calls.append(dossier.pk)
        return check(dossier)

    monkeypatch.setattr(condition, "_check", counted)
    return calls


def test_a_transition_evaluates_each_of_its_conditions_once(monkeypatch, draft):
    has_rcp = counting(monkeypatch, cond.has_rcp)
    index = counting(monkeypatch, cond.has_index_case)
    attest_and_submit(dossier=draft, prescriber=draft.prescriber, rcp=draft.rcp)
    draft.refresh_from_db()
    assert draft.status == S.SUBMITTED
    assert has_rcp == [draft.pk]
    assert index == [draft.pk]


def test_a_registered_requirement_is_evaluated_once_and_still_refuses(monkeypatch, draft, coordinator):
    attest_and_submit(dossier=draft, prescriber=draft.prescriber, rcp=draft.rcp)
    seen: list[int] = []
    answer: list[str] = ["Il manque la pièce de démonstration."]

    def requirement(dossier):
        seen.append(dossier.pk)
        return list(answer)

    cond.register_requirement("validate", requirement)
    try:
        with pytest.raises(TransitionRefused, match="pièce de démonstration"):
            transition_dossier(dossier=draft, name="validate", actor=coordinator)
        draft.refresh_from_db()
        assert draft.status == S.SUBMITTED
        assert seen == [draft.pk]

        answer.clear()
        seen.clear()
        transition_dossier(dossier=draft, name="validate", actor=coordinator)
        assert draft.status == S.RCP_VALIDATED
        assert seen == [draft.pk]
    finally:
        cond._requirements["validate"].remove(requirement)


def test_the_permission_is_tested_once(monkeypatch, draft, coordinator):
    attest_and_submit(dossier=draft, prescriber=draft.prescriber, rcp=draft.rcp)
    tested: list[int] = []
    rule = prescription_rules.TRANSITION_RULES["validate"]
    original = type(rule).test

    def test(predicate, user, dossier=None, *args):
        if predicate is rule:
            tested.append(user.pk)
        return original(predicate, user, dossier, *args)

    monkeypatch.setattr(type(rule), "test", test)
    transition_dossier(dossier=draft, name="validate", actor=coordinator)
    assert tested == [coordinator.pk]


def test_conditions_found_to_hold_are_not_assumed_for_another_object_or_outside_the_call(rcp):
    """The state machine's own check still applies to anything but the transition being fired."""
    draft = f.dossier(prescriber_user=f.prescriber(), rcp=rcp, with_index=False)
    assert not cond.has_index_case(draft)  # a factory draft has no index case
    with cond.verified(draft, [cond.has_index_case]):
        assert cond.has_index_case(draft)  # the one object the caller evaluated
        assert not cond.has_index_case(Dossier.objects.get(pk=draft.pk))  # another object: evaluated
        assert not cond.attested(draft)  # a condition not in the set: evaluated
    assert not cond.has_index_case(draft)
    with pytest.raises(TransitionNotAllowed):
        draft.submit()  # outside transition_dossier, django-fsm evaluates them and refuses


def test_a_refused_submission_renders_nothing_and_writes_nothing(monkeypatch, draft):
    rendered: list[int] = []
    monkeypatch.setattr("prescriptions.pdf.store_prescription_summary", lambda d: rendered.append(d.pk))
    monkeypatch.setattr(cond.has_index_case, "_check", lambda d: ["Le cas index n'est pas renseigné."])
    with pytest.raises(TransitionRefused, match="cas index"):
        attest_and_submit(dossier=draft, prescriber=draft.prescriber, rcp=draft.rcp)
    assert draft.status == S.DRAFT
    assert rendered == []


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_submission_renders_the_pdf_after_its_transaction_not_inside_it(monkeypatch, reference_data):
    """The submission commits without the bon de prescription; the render is queued on commit and, with no
    broker, runs once the response is out (here: when the collected work is run)."""
    rcp = f.rcp_body()
    coordinator = f.coordinator(rcp)
    coordinator.email = "coordination@chu.invalid"
    coordinator.save(update_fields=["email"])
    draft = f.dossier(prescriber_user=f.prescriber(), rcp=rcp)
    rendered: list[tuple[int, bool]] = []

    def store(dossier):
        rendered.append((dossier.pk, connection.in_atomic_block))
        return "renders/x.pdf"

    monkeypatch.setattr("prescriptions.pdf.store_prescription_summary", store)
    with after_response.collecting() as pending:
        attest_and_submit(dossier=draft, prescriber=draft.prescriber, rcp=draft.rcp)
        assert Dossier.objects.get(pk=draft.pk).status == S.SUBMITTED  # committed
        assert rendered == []  # neither in the transaction nor on its commit: after the response
    names = [getattr(func, "__name__", "") for func, _args in pending]
    assert "_apply" in names
    # The RCP-FMG's coordinator is told by e-mail: written to the outbox with the transition, sent afterwards.
    email = OutboxEmail.objects.get(notification__dossier=draft)
    assert email.state == OutboxEmail.State.PENDING

    assert after_response.run(pending) == len(names)
    assert rendered == [(draft.pk, False)]
    email.refresh_from_db()
    assert email.state == OutboxEmail.State.SENT


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_with_a_broker_the_render_is_queued_on_commit_and_not_run_here(monkeypatch, reference_data):
    from notifications.tasks import send_email
    from pfmg.celery import app
    from prescriptions.tasks import render_prescription_summary

    rcp = f.rcp_body()
    f.coordinator(rcp)
    draft = f.dossier(prescriber_user=f.prescriber(), rcp=rcp)
    queued: list[tuple[str, tuple, bool]] = []

    def sender(task):
        def apply_async(args=None, **kwargs):
            queued.append((task.name, tuple(args or ()), connection.in_atomic_block))

        return apply_async

    app.conf.task_always_eager = False  # restored by conftest._celery_eager
    for task in (render_prescription_summary, send_email):
        task = task._get_current_object()
        monkeypatch.setattr(task, "apply_async", sender(task))
    attest_and_submit(dossier=draft, prescriber=draft.prescriber, rcp=draft.rcp)
    # Queued once the transaction committed, to the broker: nothing rendered or sent by this process.
    assert (render_prescription_summary.name, (draft.pk,), False) in queued


def test_deferred_work_waits_for_the_end_of_the_request():
    done: list[str] = []
    after_response.defer(done.append, "outside a request: at once")
    assert done == ["outside a request: at once"]

    request_started.send(sender=None)
    try:
        after_response.defer(done.append, "first")
        after_response.defer(lambda: 1 / 0)  # a failure is logged, the rest still runs
        after_response.defer(done.append, "second")
        assert done == ["outside a request: at once"]
    finally:
        request_finished.send(sender=None)
    assert done == ["outside a request: at once", "first", "second"]
    after_response.defer(done.append, "after the request: at once")
    assert done[-1] == "after the request: at once"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_submit_page_answers_before_the_pdf_is_rendered(client, monkeypatch, reference_data):
    """Through the whole request cycle, without a broker: the view submits and builds its response, then the
    render runs (when the server closes the response), out of the transaction; the page never waits for it."""
    from django.urls import reverse

    from prescriptions import drafting, prescribing

    rcp = f.rcp_body()
    f.coordinator(rcp)
    prescriber = f.prescriber()
    draft = f.dossier(prescriber_user=prescriber, rcp=rcp)
    order: list[str] = []
    submit, redirect = drafting.attest_and_submit, prescribing.redirect

    def submitted(**kwargs):
        submit(**kwargs)
        order.append("submitted")

    def responded(*args, **kwargs):
        order.append("response")
        return redirect(*args, **kwargs)

    def store(dossier):
        order.append(f"rendered in a transaction: {connection.in_atomic_block}")
        return "renders/x.pdf"

    monkeypatch.setattr("prescriptions.pdf.store_prescription_summary", store)
    monkeypatch.setattr(drafting, "attest_and_submit", submitted)
    monkeypatch.setattr(prescribing, "redirect", responded)
    client.force_login(prescriber)
    response = client.post(
        reverse("prescribe_step", args=[draft.pk, "validation"]), {"rcp": rcp.pk, "attestation": "on"}
    )
    assert response.status_code == 302
    assert Dossier.objects.get(pk=draft.pk).status == S.SUBMITTED
    assert order == ["submitted", "response", "rendered in a transaction: False"]
