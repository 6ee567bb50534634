"""The access matrix: every URL of the portal, every demo role, the objects each role must not reach.

How a refusal looks in this project (read from the views, which scope through selectors and rules):

- an object outside the user's scope answers **404**, as if it did not exist (``selectors.dossier_detail``,
  ``meeting_detail``, ``visible_report``…); so does an object paired with another's (a document, a person, a
  decision, an agenda item of another dossier or meeting), and a file that would show the persons of a
  withdrawn dossier to its laboratory;
- a page of an object the user may see but a screen that is not theirs answers **403** (a laboratory or an RCP
  member on a dossier's consents, a non-laboratory on the reception or pipeline pages, the laboratory queue to
  anyone else, routing to anyone but the RCP's coordination);
- a POST the user may not make on a page they may see is **refused in the page** (a message, 302 or 400):
  nothing changes in the database, which is what the matrix checks;
- an anonymous visitor is sent to the login page (302), to the admin's login page for the admin, and gets
  401/403 from the API and the FHIR export; ``PUBLIC`` pages answer everyone.

The expectations are written here from the demo's facts (who prescribed a dossier, its RCP, its laboratory,
its status), never by calling the project's selectors or rules: widening one of them must show up as a
violation (``test_access_matrix.test_the_matrix_catches_*``).

Adding an entry is one line in ``ENTRIES`` (``test_every_url_pattern_has_an_entry_in_the_matrix`` names
the URL patterns that have none)::

    Entry("app:url_name", kwargs, targets, get=rule, post=rule, data=body)

- ``kwargs(demo, target)``: the URL's keyword arguments for a target (``dossier_pk`` for ``<int:pk>``,
  ``no_kwargs`` for a URL without object, ``with_person``, ``with_document``… for a sub-object);
- ``targets``: the demo objects to try, keys of ``Demo.facts``: ``"paris.withdrawn"`` (a dossier, by its
  prescriber's territory and its status), ``"meeting.lyon"``; ``"a:x"`` passes ``x`` to the URL (a
  transition, a step); ``"a~b"``: ``a``'s URL with the sub-object of ``b``, which nobody may reach; ``NONE``
  for a URL without object. ``post_targets``: the POSTs' targets when not the same;
- ``get`` / ``post``: a rule ``(role, fact) -> Outcome`` per method tried (``None``: not tried), usually
  ``scoped(may, otherwise, view)`` (404 outside the role's dossiers or when ``view`` is false, then ``may``
  decides: allowed or ``otherwise``), ``global_rule``, ``meeting_rule``, ``public`` or ``authenticated``;
- ``data(demo, target, role)``: the POST body, one that would succeed for an authorised user where easy;
- ``method``: the write the ``post`` rule is tried with, when not a POST (an API's ``PUT``, ``PATCH`` or
  ``DELETE``, sent as JSON);
- ``file=True`` for downloads (a laboratory on a withdrawn dossier must then get a 404, where a page may
  answer without the persons' names); ``lists="references"`` (or ``"names"``) for pages listing dossiers:
  no reference nor name of a dossier outside the role's scope may appear.

A new demo role goes in ``ROLES`` and in the cast tables below (``RCP_MEMBER``, ``LAB_MEMBER``…); a new admin
site in ``ADMIN_NAMESPACES``. A hole being fixed elsewhere goes in ``KNOWN_HOLES`` (a strict xfail each).
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import hashlib
import itertools
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

ROLES = (
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
    "machine_seqoia",
)
ANONYMOUS = "anonymous"
ALL_ROLES = (*ROLES, ANONYMOUS)


class Outcome(enum.Enum):
    ALLOW = "allowed"  # GET: answered (2xx/3xx, not a login redirect); POST: not tried (it would change data)
    HIDDEN = "404"
    FORBIDDEN = "403"
    REFUSED = "refused in the page, nothing changed"
    LOGIN = "login required"
    PUBLIC = "public"
    NO_IDENTITY = "404, or answered without the persons' names"
    # Pages open to anonymous visitors too: a switched-off feature (404 for all) and a form refusing bad input
    # to everyone (an answer under 500 and nothing changed).
    ABSENT = "404 for everyone, anonymous included"
    OPEN_REFUSED = "refused to everyone, anonymous included, nothing changed"


A = Outcome

# --- The demo's facts (what the oracle reads) -------------------------------------------------------------

# Who assists whom, who counsels where, who sits in which RCP, who works in which laboratory: the demo's cast
# as the README describes it.
ASSISTS = {"assistant": {"prescriber"}}
COUNSELLOR_AT = {"counsellor": "paris"}
RCP_MEMBER = {"coordinator": {"paris", "lyon", "cancer"}, "counsellor": {"paris"}}
RCP_DECIDER = {"coordinator": {"paris", "lyon", "cancer"}}
LAB_MEMBER = {
    "lab_seqoia": "seqoia",
    "biologist_seqoia": "seqoia",
    "lab_auragen": "auragen",
    "biologist_auragen": "auragen",
    "machine_seqoia": "seqoia",
}
# A laboratory's machine account: staff of its laboratory through the API only (its token); it has no session
# (every login backend refuses it), so every page sends it to the login page as an anonymous visitor.
MACHINES = {"machine_seqoia"}
BIOLOGIST = {"biologist_seqoia", "biologist_auragen"}
PRESCRIBERS = {"prescriber", "prescriber2"}
ADMINS = {"admin"}

RCP_SEES = {
    "submitted",
    "more_info_requested",
    "rcp_rejected",
    "rcp_validated",
    "finalised",
    "samples_shipped",
    "received",
    "sequencing",
    "analysis",
    "report_signed",
    "report_delivered",
    "closed",
    "withdrawn",
}
LAB_SEES = {
    "finalised",
    "samples_shipped",
    "received",
    "sequencing",
    "analysis",
    "report_signed",
    "report_delivered",
    "closed",
    "withdrawn",
}


@dataclass(frozen=True)
class Fact:
    """A target as the oracle sees it. For a dossier: its people and status; for a meeting: its RCP. ``mismatch``:
    the URL pairs this object with a sub-object of another one."""

    key: str
    kind: str = "dossier"  # dossier, meeting, none
    prescriber: str = ""
    entered_by: str = ""
    establishment: str = ""
    rcp: str = ""
    lab: str = ""
    status: str = ""
    decided: bool = False
    mismatch: bool = False
    arg: str = ""  # what the URL names besides the object (a transition, a step)


def is_admin(role: str, f: Fact | None = None) -> bool:
    return role in ADMINS


def prescribes(role: str, f: Fact) -> bool:
    """The prescribing side of the dossier: its prescriber, who entered it, the prescriber's assistants."""
    return role in (f.prescriber, f.entered_by) or f.prescriber in ASSISTS.get(role, ())


def is_prescriber_of(role: str, f: Fact) -> bool:
    return role == f.prescriber


def counsels(role: str, f: Fact) -> bool:
    return COUNSELLOR_AT.get(role) == f.establishment


def rcp_member(role: str, f: Fact) -> bool:
    return f.rcp in RCP_MEMBER.get(role, ())


def rcp_decider(role: str, f: Fact) -> bool:
    return f.rcp in RCP_DECIDER.get(role, ())


def lab_of(role: str, f: Fact) -> bool:
    return bool(f.lab) and LAB_MEMBER.get(role) == f.lab


def biologist_of(role: str, f: Fact) -> bool:
    return lab_of(role, f) and role in BIOLOGIST


def sees(role: str, f: Fact) -> bool:
    """The dossiers a role may see at all (national coordination: none, aggregates only)."""
    if is_admin(role) or prescribes(role, f):
        return True
    if counsels(role, f) and f.status != "draft":
        return True
    if rcp_member(role, f) and f.status in RCP_SEES:
        return True
    return lab_of(role, f) and f.status in LAB_SEES


def identity_hidden(role: str, f: Fact) -> bool:
    """A withdrawn dossier's persons are never identified by its laboratory."""
    return f.kind == "dossier" and f.status == "withdrawn" and lab_of(role, f) and role != f.prescriber


def cares(role: str, f: Fact) -> bool:
    """Those who care for the dossier (and alone see its consents)."""
    return prescribes(role, f) or counsels(role, f) or is_admin(role)


def any_of(*predicates) -> Callable[[str, Fact], bool]:
    return lambda role, f: any(p(role, f) for p in predicates)


def everyone(role: str, f: Fact) -> bool:
    return True


# --- Rules: (role, fact) -> Outcome ----------------------------------------------------------------------


def scoped(may: Callable = everyone, otherwise: Outcome = A.FORBIDDEN, view: Callable = everyone):
    """A dossier URL: 404 outside the role's scope (or when the dossier's screen ``view`` is not the role's);
    then ``may`` decides: allowed, or ``otherwise``."""

    def rule(role: str, f: Fact) -> Outcome:
        if not sees(role, f) or not view(role, f):
            return A.HIDDEN
        if not may(role, f):
            return otherwise
        return A.HIDDEN if f.mismatch else A.ALLOW

    return rule


def global_rule(may: Callable, otherwise: Outcome):
    """A URL without object: allowed to the roles ``may`` accepts (given an empty fact), ``otherwise`` else."""
    return lambda role, f: A.ALLOW if may(role, f) else otherwise


def meeting_rule(may: Callable):
    """An RCP meeting: 404 to whoever is not a member (or, for managing, coordinator/deputy) of its RCP."""
    return lambda role, f: A.ALLOW if may(role, f) and not f.mismatch else A.HIDDEN


def public(role: str, f: Fact) -> Outcome:
    return A.PUBLIC


def authenticated(role: str, f: Fact) -> Outcome:
    return A.ALLOW


# --- The demo objects -------------------------------------------------------------------------------------


@dataclass
class Demo:
    """The seeded demo, by name: users, targets (dossiers by ``<territory>.<status>``, meetings…) and their
    related objects, and one session per role."""

    users: dict[str, Any]
    facts: dict[str, Fact]
    pks: dict[str, int]  # target key -> pk of its object
    extra: dict[str, Any] = field(default_factory=dict)
    sessions: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(
        default_factory=dict
    )  # role -> API token (the API and FHIR are tried with it)
    names: dict[int, list[str]] = field(default_factory=dict)  # dossier pk -> birth names of its persons
    references: dict[int, str] = field(default_factory=dict)
    baseline: tuple = ()  # the fingerprint every cell starts from (each runs in a savepoint rolled back)

    def fact(self, target: str) -> Fact:
        if target == NONE:
            return Fact(key=NONE, kind="none")
        own = target.split("~")[0]
        fact = self.facts[own.split(":")[0]]
        if ":" in own:
            fact = _replace(fact, arg=own.split(":")[1])
        return _replace(fact, mismatch=True) if "~" in target else fact

    def pk(self, target: str) -> int:
        return self.pks[target.split("~")[0].split(":")[0]]

    def sub(self, target: str) -> str:
        """The target whose sub-object (document, person, decision, item) the URL names."""
        return target.split("~")[-1].split(":")[0]

    def arg(self, target: str) -> str:
        return target.split("~")[0].split(":")[1]

    def client(self, role: str, url: str = "") -> Client:
        """A role's session; for the API and FHIR (``TOKEN_PATHS``), its token instead, as programs send it."""
        if role != ANONYMOUS and url.startswith(TOKEN_PATHS):
            return Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {self.tokens[role]}")
        client = Client(raise_request_exception=False)
        if role != ANONYMOUS:
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[role]
        return client


def verify_second_factor(client: Client, user) -> None:
    """Once django-otp guards the pages, a demo session counts as verified by a TOTP device: the matrix tests
    scopes, not logins."""
    if not apps.is_installed("django_otp.plugins.otp_totp"):
        return
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="matrice", defaults={"confirmed": True})
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


def _replace(fact: Fact, **changes) -> Fact:
    return Fact(**{**fact.__dict__, **changes})


NONE = "-"
# Where the matrix sends a role's API token instead of its session cookie.
TOKEN_PATHS = ("/api/v1/", "/fhir/")


def build_demo(users: dict) -> Demo:
    """Read the seeded demo into targets; add what it lacks (documents, another RCP's meeting and dossier)."""
    from django.core.files.base import ContentFile

    from labs.demo import minimal_pdf
    from labs.models import Report, Shipment
    from people.models import RcpBody
    from pfmg.demo import Cast, complete_draft, walk
    from prescriptions.models import Dossier, DossierDocument, Patient, PreIndication
    from prescriptions.services import choose_rcp, create_dossier
    from rcp.models import Meeting

    # An RCP none of the demo users belongs to, with a meeting and a dossier submitted to it: "another RCP"
    # even for the coordinator of the three demo ones.
    other = RcpBody.objects.create(
        name="RCP-FMG tierce (matrice d'accès)", city="Bordeaux", multi_theme_rare_disease=True
    )
    other_meeting = Meeting.objects.create(
        rcp=other,
        kind="upstream",
        date=dt.date.today(),
        start_time=dt.time(14),
        place="Salle 2",
        created_by=users["admin"],
    )
    version = PreIndication.objects.get(slug="deficience-intellectuelle").current_version()
    cast = Cast(users["prescriber2"], users["coordinator"], users["lab_auragen"], users["biologist_auragen"])
    dossier = create_dossier(
        prescriber=cast.prescriber, entered_by=cast.prescriber, pre_indication_version=version
    )
    complete_draft(dossier, cast.prescriber, 70, trio=False)
    choose_rcp(dossier=dossier, rcp=other)
    walk(dossier, ["submit"], cast, dossier.created_at, dt.timedelta(minutes=5))

    rcp_key = {
        "RCP-FMG Maladies rares Île-de-France (démo)": "paris",
        "RCP-FMG-MR génomique Auvergne-Rhône-Alpes (démo)": "lyon",
        "RCP-FMG Cancers pédiatriques nationale (démo)": "cancer",
    }
    facts: dict[str, Fact] = {}
    pks: dict[str, int] = {}
    dossiers = Dossier.objects.select_related(
        "prescriber", "entered_by", "rcp", "laboratory", "establishment"
    )
    for d in dossiers.order_by("pk"):
        territory = "paris" if d.establishment.city == "Paris" else "lyon"
        key = f"{territory}.{d.status}"
        if d.entered_by_id != d.prescriber_id:
            key = f"{territory}.handover"
        elif d.rcp and d.rcp.name not in rcp_key:
            key = f"other.{d.status}"
        if key in facts:
            continue  # the first of each kind is enough
        facts[key] = Fact(
            key=key,
            prescriber=d.prescriber.username,
            entered_by=d.entered_by.username,
            establishment=territory,
            rcp=rcp_key.get(d.rcp.name, "other") if d.rcp else "",
            lab=d.laboratory.code if d.laboratory else "",
            status=d.status,
            decided=d.rcp_decisions.exists(),
        )
        pks[key] = d.pk
    for rcp, key in rcp_key.items():
        meeting = Meeting.objects.filter(rcp__name=rcp, kind="upstream").order_by("pk").first()
        if meeting is not None:
            facts[f"meeting.{key}"] = Fact(key=f"meeting.{key}", kind="meeting", rcp=key)
            pks[f"meeting.{key}"] = meeting.pk
    facts["meeting.other"] = Fact(key="meeting.other", kind="meeting", rcp="other")
    pks["meeting.other"] = other_meeting.pk
    # Documents (the demo attaches none), stored as the prescribing journey stores them.
    pdf = minimal_pdf("Document de test")
    for key in ("paris.draft", "paris.finalised", "paris.withdrawn", "lyon.finalised", "lyon.withdrawn"):
        document = DossierDocument(
            dossier_id=pks[key],
            label="Compte rendu de consultation",
            original_name="consultation.pdf",
            content_type="application/pdf",
            size=len(pdf),
            sha256=hashlib.sha256(pdf).hexdigest(),
            uploaded_by=users[facts[key].prescriber],
        )
        document.file.save("upload", ContentFile(pdf), save=False)
        document.save()
    extra = {
        "shipment": {
            k: Shipment.objects.filter(dossier_id=pk).order_by("pk").first() for k, pk in pks.items()
        },
        "report": {k: Report.objects.filter(dossier_id=pk).order_by("pk").first() for k, pk in pks.items()},
    }
    names: dict[int, list[str]] = {}
    for pk, name in Patient.objects.values_list("dossier_roles__dossier_id", "birth_name"):
        names.setdefault(pk, []).append(name)
    references = dict(Dossier.objects.values_list("pk", "reference"))
    return Demo(users=users, facts=facts, pks=pks, extra=extra, names=names, references=references)


# --- URL arguments and bodies -----------------------------------------------------------------------------


def dossier_pk(demo: Demo, t: str) -> dict:
    return {"pk": demo.pk(t)}


def no_kwargs(demo: Demo, t: str) -> dict:
    return {}


def dossier_reference(demo: Demo, t: str) -> dict:
    return {"reference": demo.references[demo.pk(t)]}


def reference_with_name(demo: Demo, t: str) -> dict:
    return {"reference": demo.references[demo.pk(t)], "name": demo.arg(t)}


def with_name(demo: Demo, t: str) -> dict:
    return {"pk": demo.pk(t), "name": demo.arg(t)}


def with_step(demo: Demo, t: str) -> dict:
    return {"pk": demo.pk(t), "step": demo.arg(t)}


def with_document(demo: Demo, t: str) -> dict:
    from prescriptions.models import DossierDocument

    document = DossierDocument.objects.filter(dossier_id=demo.pks[demo.sub(t)]).order_by("pk").first()
    return {"pk": demo.pk(t), "document_pk": document.pk}


def index_person(demo: Demo, key: str):
    from prescriptions.models import DossierPerson

    return DossierPerson.objects.filter(dossier_id=demo.pks[key], relationship="index").get()


def with_person(demo: Demo, t: str) -> dict:
    return {"pk": demo.pk(t), "person_pk": index_person(demo, demo.sub(t)).pk}


def person_by_reference(demo: Demo, t: str) -> dict:
    return {"reference": demo.references[demo.pk(t)], "pk": index_person(demo, demo.sub(t)).pk}


def document_by_reference(demo: Demo, t: str) -> dict:
    kwargs = with_document(demo, t)
    return {"reference": demo.references[kwargs["pk"]], "pk": kwargs["document_pk"]}


def reference_with_person(demo: Demo, t: str) -> dict:
    return {"reference": demo.references[demo.pk(t)], "person_id": index_person(demo, demo.sub(t)).pk}


def with_decision(demo: Demo, t: str) -> dict:
    from rcp.models import Decision

    decision = Decision.objects.filter(dossier_id=demo.pks[demo.sub(t)]).order_by("pk").first()
    return {"pk": demo.pk(t), "decision_pk": decision.pk}


def reference_with_decision(demo: Demo, t: str) -> dict:
    """A dossier's reference and the first decision of ``demo.sub(t)`` (the API's decision under a dossier)."""
    from rcp.models import Decision

    decision = Decision.objects.filter(dossier_id=demo.pks[demo.sub(t)]).order_by("pk").first()
    return {"reference": demo.references[demo.pk(t)], "pk": decision.pk}


def rcp_of_meeting(demo: Demo, t: str) -> dict:
    """The RCP body of a meeting target (the API's ``rcp-bodies/{pk}/``)."""
    from rcp.models import Meeting

    return {"pk": Meeting.objects.filter(pk=demo.pk(t)).values_list("rcp_id", flat=True).get()}


def meeting_with_reference(demo: Demo, t: str) -> dict:
    """A meeting and the first dossier on the agenda of ``demo.sub(t)`` (the API's agenda item)."""
    from rcp.models import AgendaItem

    item = (
        AgendaItem.objects.filter(meeting_id=demo.pks[demo.sub(t)]).select_related("dossier").order_by("pk")
    )
    return {"pk": demo.pk(t), "reference": item.first().dossier.reference}


def with_item(demo: Demo, t: str) -> dict:
    from rcp.models import AgendaItem

    item = AgendaItem.objects.filter(meeting_id=demo.pks[demo.sub(t)]).order_by("pk").first()
    return {"pk": demo.pk(t), "item_pk": item.pk}


def shipment_pk(demo: Demo, t: str) -> dict:
    return {"pk": demo.extra["shipment"][t].pk}


def report_pk(demo: Demo, t: str) -> dict:
    return {"pk": demo.extra["report"][t].pk}


def reference_with_shipment(demo: Demo, t: str) -> dict:
    """A dossier's reference and a shipment (of another dossier's, for ``a~b``)."""
    return {"reference": demo.references[demo.pk(t)], "pk": demo.extra["shipment"][demo.sub(t)].pk}


def reference_with_report(demo: Demo, t: str) -> dict:
    return {"reference": demo.references[demo.pk(t)], "pk": demo.extra["report"][demo.sub(t)].pk}


def lab_queue_rule(code: str) -> Callable[[str, Fact], Outcome]:
    """A laboratory's queue through the API: its staff; another laboratory's staff do not know it (404); anyone
    else is not laboratory staff (403, as the queue page)."""

    def rule(role: str, f: Fact) -> Outcome:
        if LAB_MEMBER.get(role) == code:
            return A.ALLOW
        return A.HIDDEN if role in LAB_MEMBER else A.FORBIDDEN

    return rule


def notice_pk(demo: Demo, t: str) -> dict:
    from consent.selectors import notices_in_force

    return {"pk": notices_in_force()[0].pk}


def fhir_reference(demo: Demo, t: str) -> dict:
    return {"reference": demo.references[demo.pk(t)]}


def fhir_patient(demo: Demo, t: str) -> dict:
    """The index case's Patient, by the id the export gives it (``<reference>.person-<pk>``); with ``a~b``, a's
    reference and b's person: no dossier holds that resource."""
    person = index_person(demo, demo.sub(t))
    return {"resource_type": "Patient", "id": f"{demo.references[demo.pk(t)]}.person-{person.pk}"}


def body(**values) -> Callable[[Demo, str, str], dict]:
    return lambda demo, t, role: values


def decision_body(demo: Demo, t: str, role: str) -> dict:
    return {"kind": "validate", "reason": "Dossier complet."}


def meeting_body(demo: Demo, t: str, role: str) -> dict:
    from people.models import RcpBody

    return {
        "rcp": RcpBody.objects.order_by("pk").first().pk,
        "kind": "upstream",
        "date": (dt.date.today() + dt.timedelta(days=7)).isoformat(),
        "start_time": "14:00",
        "place": "Salle 1",
    }


def agenda_body(demo: Demo, t: str, role: str) -> dict:
    return {"dossiers": [demo.pks["lyon.submitted"], demo.pks["paris.submitted"]]}


def api_agenda_body(demo: Demo, t: str, role: str) -> dict:
    return {
        "dossiers": [
            demo.references[demo.pks["lyon.submitted"]],
            demo.references[demo.pks["paris.submitted"]],
        ]
    }


def api_attendance_body(demo: Demo, t: str, role: str) -> dict:
    return {"present": ["coordinator", "counsellor"]}


def attendance_body(demo: Demo, t: str, role: str) -> dict:
    return {"present": [demo.users["coordinator"].pk, demo.users["counsellor"].pk]}


def routing_body(demo: Demo, t: str, role: str) -> dict:
    from people.models import Laboratory

    return {"laboratory": Laboratory.objects.get(code="auragen").pk, "reason": "Réorientation."}


def api_routing_body(demo: Demo, t: str, role: str) -> dict:
    return {"laboratory": "auragen", "reason": "Réorientation."}


def reception_body(demo: Demo, t: str, role: str) -> dict:
    from labs.models import Sample

    return {f"check-{s.pk}": "conform" for s in Sample.objects.filter(dossier_id=demo.pk(t))}


def analysis_body(demo: Demo, t: str, role: str) -> dict:
    return {"interpreter": demo.users["biologist_seqoia"].pk}


def others_notifications(demo: Demo, t: str, role: str) -> dict:
    from notifications.models import Notification

    ids = Notification.objects.exclude(recipient__username=role).values_list("pk", flat=True)
    return {"notification": [str(i) for i in ids]}


def others_notification_ids(demo: Demo, t: str, role: str) -> dict:
    from notifications.models import Notification

    ids = Notification.objects.exclude(recipient__username=role).values_list("pk", flat=True)
    return {"ids": [str(i) for i in ids]}


CONCLUSION = {
    "interpretation": "Variant retenu.",
    "care_recommendations": "Suivi.",
    "family_recommendations": "Conseil génétique.",
}

# --- The matrix ---------------------------------------------------------------------------------------------


@dataclass
class Entry:
    name: str
    kwargs: Callable[[Demo, str], dict]
    targets: tuple[str, ...] = (NONE,)
    post_targets: tuple[str, ...] | None = None  # the targets of the POSTs, when not ``targets``
    get: Callable[[str, Fact], Outcome] | None = None
    post: Callable[[str, Fact], Outcome] | None = None
    data: Callable[[Demo, str, str], dict] | None = None
    method: str = "POST"  # the write tried with the ``post`` rule
    file: bool = False
    lists: str = ""  # "references": no reference nor name out of scope may show; "names": no name


# Dossiers tried on every dossier URL, one per scope boundary: a draft (only its prescribing side), a draft an
# assistant handed over, a submitted dossier (its RCP, not the laboratory), a validated one (routed to its
# laboratory, which may not see it before finalisation), a cancelled one (no longer the RCP's), a withdrawn
# one (its laboratory must not identify the persons), another territory's (another prescriber's, RCP's and
# laboratory's) and another RCP's (even for the coordinator of the demo RCPs).
DOSSIERS = (
    "paris.draft",
    "paris.handover",
    "paris.submitted",
    "paris.rcp_validated",
    "paris.cancelled",
    "paris.withdrawn",
    "lyon.finalised",
    "other.submitted",
)
# Writes: the statuses where the RCP and the laboratories act, a withdrawn dossier, another territory's.
WRITES = ("paris.submitted", "paris.withdrawn", "lyon.finalised", "other.submitted")
LAB_DOSSIERS = (
    "paris.draft",
    "paris.submitted",
    "paris.samples_shipped",
    "paris.withdrawn",
    "lyon.finalised",
)
LAB_WRITES = ("paris.samples_shipped", "paris.withdrawn", "lyon.finalised")
DECIDED = ("paris.finalised", "paris.withdrawn", "lyon.withdrawn", "lyon.report_delivered")
CONSENTED = ("paris.finalised", "paris.withdrawn", "lyon.finalised")
MEETINGS = ("meeting.paris", "meeting.lyon", "meeting.other")

TRANSITIONS = {
    "cancel": any_of(is_prescriber_of, is_admin),
    "validate": lambda r, f: rcp_decider(r, f) and not prescribes(r, f),
    "withdraw": any_of(is_prescriber_of, counsels, is_admin),
    "receive": lab_of,
    "sign_report": biologist_of,
    "submit": is_prescriber_of,
    "close": any_of(is_prescriber_of, rcp_decider),
}


def transition_rule(role: str, f: Fact) -> Outcome:
    if not sees(role, f):
        return A.HIDDEN
    return A.ALLOW if TRANSITIONS[f.arg](role, f) else A.REFUSED


# The transition tried on each dossier (one that its status allows, so only the rule can refuse it).
TRANSITION_TARGETS = (
    "paris.submitted:cancel",
    "lyon.submitted:validate",
    "other.submitted:validate",
    "paris.finalised:withdraw",
    "lyon.finalised:withdraw",
    "paris.samples_shipped:receive",
    "lyon.samples_shipped:receive",
    "paris.draft:submit",
    "lyon.report_delivered:close",
)
STEPS = (
    "paris.draft:clinique",
    "paris.handover:patient",
    "lyon.draft:famille",
    "paris.more_info_requested:clinique",
    "paris.submitted:clinique",
)
sheet_view = any_of(rcp_member, prescribes, is_admin)
consent_person = (*CONSENTED, "paris.finalised~lyon.finalised")

DOCUMENTED = ("paris.draft", "paris.finalised", "paris.withdrawn", "lyon.finalised", "lyon.withdrawn")
DOCUMENT_TARGETS = (
    *DOCUMENTED,
    *("paris.finalised~lyon.finalised", "lyon.withdrawn~paris.withdrawn", "paris.draft~paris.finalised"),
)

ENTRIES: list[Entry] = [
    # prescriptions
    Entry("home", no_kwargs, get=authenticated, lists="references"),
    Entry("dossier_detail", dossier_pk, DOSSIERS, get=scoped()),
    Entry(
        "dossier_transition", with_name, TRANSITION_TARGETS, post=transition_rule, data=body(reason="Motif.")
    ),
    Entry(
        "document_download",
        with_document,
        ("paris.draft", "paris.finalised", "paris.withdrawn", "lyon.finalised", "lyon.withdrawn")
        + ("paris.finalised~lyon.finalised", "lyon.withdrawn~paris.withdrawn", "paris.draft~paris.finalised"),
        get=scoped(),
        file=True,
    ),
    Entry(
        "prescription_summary_pdf",
        dossier_pk,
        ("paris.draft", "paris.submitted", "paris.withdrawn", "lyon.submitted", "lyon.withdrawn"),
        get=scoped(view=lambda r, f: f.status != "draft"),
        file=True,
    ),
    Entry(
        "prescribe_start",
        no_kwargs,
        get=global_rule(lambda r, f: r in PRESCRIBERS | set(ASSISTS), A.FORBIDDEN),
        post=global_rule(lambda r, f: r in PRESCRIBERS | set(ASSISTS), A.FORBIDDEN),
    ),
    Entry("prescribe_resume", dossier_pk, DOSSIERS, get=scoped(view=prescribes)),
    Entry(
        "prescribe_step",
        with_step,
        STEPS,
        get=scoped(view=prescribes),
        post=scoped(view=prescribes),
        data=body(summary="Résumé modifié.", age_at_onset="infantile"),
    ),
    # rcp
    Entry("rcp:home", no_kwargs, get=global_rule(lambda r, f: r in RCP_MEMBER, A.HIDDEN), lists="references"),
    Entry(
        "rcp:meeting_create",
        no_kwargs,
        get=global_rule(lambda r, f: r in RCP_DECIDER, A.HIDDEN),
        post=global_rule(lambda r, f: r in RCP_DECIDER, A.HIDDEN),
        data=meeting_body,
    ),
    Entry("rcp:meeting", dossier_pk, MEETINGS, get=meeting_rule(rcp_member)),
    Entry("rcp:meeting_minutes", dossier_pk, MEETINGS, get=meeting_rule(rcp_member), file=True),
    Entry(
        "rcp:meeting_edit",
        dossier_pk,
        MEETINGS,
        get=meeting_rule(rcp_decider),
        post=meeting_rule(rcp_decider),
        data=body(date="2027-01-05", start_time="09:00", place="Ailleurs"),
    ),
    Entry("rcp:agenda_add", dossier_pk, MEETINGS, post=meeting_rule(rcp_decider), data=agenda_body),
    Entry("rcp:agenda_propose", dossier_pk, MEETINGS, post=meeting_rule(rcp_decider)),
    Entry(
        "rcp:agenda_remove",
        with_item,
        (*MEETINGS[:2], "meeting.paris~meeting.lyon", "meeting.lyon~meeting.paris"),
        post=meeting_rule(rcp_decider),
    ),
    Entry("rcp:attendance", dossier_pk, MEETINGS, post=meeting_rule(rcp_decider), data=attendance_body),
    Entry("rcp:dossier", dossier_pk, DOSSIERS, get=scoped(view=sheet_view)),
    Entry(
        "rcp:decide",
        dossier_pk,
        DOSSIERS,
        post_targets=WRITES,
        post=scoped(lambda r, f: rcp_decider(r, f) and not prescribes(r, f), A.REFUSED, sheet_view),
        data=decision_body,
    ),
    Entry(
        "rcp:sheet_entry",
        dossier_pk,
        DOSSIERS,
        post_targets=WRITES,
        post=scoped(rcp_member, A.REFUSED, sheet_view),
        data=body(kind="correction", field="summary", text="Ajout."),
    ),
    Entry(
        "rcp:prepare",
        dossier_pk,
        DOSSIERS,
        post_targets=WRITES,
        post=scoped(prescribes, A.REFUSED, sheet_view),
        data=body(note="Prête.", ready="on"),
    ),
    Entry(
        "rcp:correct",
        with_decision,
        (*DECIDED, "paris.finalised~lyon.report_delivered", "lyon.withdrawn~paris.withdrawn"),
        post=scoped(rcp_decider, A.REFUSED, sheet_view),
        data=body(text="Correction.", reason="Erreur de saisie."),
    ),
    Entry(
        "rcp:conclusion",
        dossier_pk,
        DOSSIERS,
        post_targets=WRITES,
        post=scoped(rcp_decider, A.REFUSED, sheet_view),
        data=body(**CONCLUSION),
    ),
    Entry(
        "rcp:dossier_minutes",
        dossier_pk,
        (*DECIDED, "paris.submitted"),  # a dossier without a decision has no minutes yet
        get=scoped(view=lambda r, f: f.decided),
        file=True,
    ),
    # labs
    Entry(
        "labs_queue",
        no_kwargs,
        get=global_rule(lambda r, f: r in LAB_MEMBER, A.FORBIDDEN),
        lists="references",
    ),
    Entry(
        "labs_routing",
        dossier_pk,
        LAB_DOSSIERS,
        get=scoped(any_of(rcp_decider, is_admin)),
        post_targets=LAB_WRITES,
        post=scoped(any_of(rcp_decider, is_admin)),
        data=routing_body,
    ),
    Entry(
        "labs_samples",
        dossier_pk,
        LAB_DOSSIERS,
        get=scoped(),
        post_targets=LAB_WRITES,
        post=scoped(lambda r, f: r == f.prescriber or f.prescriber in ASSISTS.get(r, ()), A.REFUSED),
        data=body(
            action="ship", **{"ship-carrier": "X", "ship-tracking_number": "1", "ship-pickup_date": ""}
        ),
    ),
    Entry(
        "labs_reception",
        dossier_pk,
        LAB_DOSSIERS,
        LAB_WRITES,
        get=scoped(lab_of),
        post=scoped(lab_of),
        data=reception_body,
    ),
    Entry(
        "labs_sequencing",
        dossier_pk,
        LAB_DOSSIERS,
        LAB_WRITES,
        get=scoped(lab_of),
        post=scoped(lab_of),
        data=body(run_identifier="RUN-1", mean_coverage="35", pct_20x="97"),
    ),
    Entry(
        "labs_analysis",
        dossier_pk,
        LAB_DOSSIERS,
        LAB_WRITES,
        get=scoped(lab_of),
        post=scoped(lab_of),
        data=analysis_body,
    ),
    Entry(
        "labs_report",
        dossier_pk,
        LAB_DOSSIERS,
        get=scoped(),
        post_targets=LAB_WRITES,
        post=scoped(lab_of, A.REFUSED),
        data=body(action="sign"),
    ),
    Entry(
        "labs_manifest_pdf",
        shipment_pk,
        ("paris.samples_shipped", "lyon.samples_shipped", "paris.report_signed"),
        get=scoped(),
        file=True,
    ),
    Entry(
        "labs_report_download",
        report_pk,
        ("paris.report_signed", "lyon.report_delivered", "paris.closed"),
        get=scoped(),
        file=True,
    ),
    # FHIR R4 export: as the files, none of a withdrawn dossier to its laboratory
    Entry(
        "fhir:bundle",
        fhir_reference,
        (*DOSSIERS, "lyon.withdrawn", "paris.report_signed"),
        get=scoped(),
        file=True,
    ),
    Entry(
        "fhir:resource",
        fhir_patient,
        (
            "paris.draft",
            "paris.submitted",
            "paris.withdrawn",
            "lyon.finalised",
            "paris.finalised~lyon.finalised",
        ),
        get=scoped(),
        file=True,
    ),
    # consent
    Entry("consent:notices", no_kwargs, get=public),
    Entry("consent:notice_pdf", notice_pk, get=public),
    Entry("consent:dossier", dossier_pk, (*DOSSIERS, "paris.finalised"), get=scoped(cares)),
    Entry(
        "consent:record",
        with_person,
        consent_person,
        get=scoped(cares),
        post=scoped(cares),
    ),
    Entry(
        "consent:withdraw",
        with_person,
        consent_person,
        get=scoped(cares),
        post=scoped(cares),
        data=body(scope="all", withdrawn_on="", reason="Retrait."),
    ),
    Entry("consent:form_pdf", with_person, consent_person, get=scoped(cares), file=True),
    Entry("consent:scan", with_person, consent_person, get=scoped(cares), file=True),
    # notifications: the inbox is one's own; marking another's notifications read changes nothing
    # An RCP's coordinator keeps the notification of a submission cancelled since: its reference, no name.
    Entry("notifications_inbox", no_kwargs, get=authenticated, lists="names"),
    Entry(
        "notifications_mark_read",
        no_kwargs,
        post=lambda r, f: A.REFUSED,
        data=others_notifications,
    ),
    # pfmg: authentication, language, health, API and its schema
    Entry("login", no_kwargs, get=public),
    Entry("logout", no_kwargs, post=public),
    Entry("set_language", no_kwargs, post=public, data=body(language="en", next="/")),
    Entry("healthz", no_kwargs, get=public),
    Entry("api-root", no_kwargs, get=authenticated),
    Entry("pre-indication-list", no_kwargs, get=authenticated),
    Entry(
        "pre-indication-detail",
        lambda demo, t: {"slug": "deficience-intellectuelle"},
        get=authenticated,
    ),
    Entry("hpo-term-list", no_kwargs, get=authenticated),
    Entry("hpo-term-detail", lambda demo, t: {"pk": "HP:0001250"}, get=authenticated),
    Entry("orpha-disease-list", no_kwargs, get=authenticated),
    Entry("orpha-disease-detail", lambda demo, t: {"pk": "ORPHA:558"}, get=authenticated),
    Entry("research-export-list", no_kwargs, get=global_rule(is_admin, A.FORBIDDEN)),
    # The dossier API: the pages' scope, by reference; a refused transition is a 403/400 and changes nothing.
    Entry("dossier-list", no_kwargs, get=authenticated, post=lambda r, f: A.REFUSED, lists="references"),
    Entry("dossier-detail", dossier_reference, DOSSIERS, get=scoped(), lists="names"),
    Entry(
        "dossier-transition",
        reference_with_name,
        TRANSITION_TARGETS,
        post=transition_rule,
        data=body(reason="Motif."),
    ),
    # The prescribing journey through the API: reads as the dossier's page (documents and persons never for the
    # laboratory of a withdrawn dossier), writes as the prescribing steps' (404 to whoever may not edit it).
    Entry(
        "dossier-person-list",
        dossier_reference,
        DOSSIERS,
        get=scoped(),
        post=scoped(view=prescribes),
        data=body(relationship="other", birth_name="TEST", first_names="Test", sex="F"),
        lists="names",
    ),
    Entry(
        "dossier-person-detail",
        person_by_reference,
        ("paris.draft", "paris.submitted", "paris.withdrawn", "lyon.finalised")
        + ("paris.draft~paris.submitted",),
        get=scoped(),
        file=True,
    ),
    Entry("dossier-phenotypes", dossier_reference, DOSSIERS, get=scoped()),
    Entry(
        "dossier-document-list",
        dossier_reference,
        DOCUMENTED,
        get=scoped(),
        post=scoped(view=prescribes),
        file=True,
    ),
    Entry("dossier-document-detail", document_by_reference, DOCUMENT_TARGETS, get=scoped(), file=True),
    Entry("dossier-document-download", document_by_reference, DOCUMENT_TARGETS, get=scoped(), file=True),
    Entry(
        "dossier-hand-over",
        dossier_reference,
        ("paris.draft", "paris.handover", "paris.submitted", "paris.withdrawn", "lyon.finalised")
        + ("other.submitted",),
        post=scoped(view=prescribes),
    ),
    # Consents through the API: the consents pages' rules (a laboratory or an RCP member gets a 403).
    Entry("dossier-consent-list", dossier_reference, (*DOSSIERS, "paris.finalised"), get=scoped(cares)),
    Entry("person-consent-record", reference_with_person, consent_person, post=scoped(cares)),
    Entry(
        "person-consent-withdrawal",
        reference_with_person,
        consent_person,
        post=scoped(cares),
        data=body(scope="all", withdrawn_on="", reason="Retrait."),
    ),
    Entry("person-consent-form-pdf", reference_with_person, consent_person, get=scoped(cares), file=True),
    Entry("person-consent-scan", reference_with_person, consent_person, get=scoped(cares), file=True),
    # The user's own notifications: marking another's read changes nothing.
    Entry("notification-list", no_kwargs, get=authenticated, lists="names"),
    Entry("notification-read", no_kwargs, post=lambda r, f: A.REFUSED, data=others_notification_ids),
    # The RCP-FMG API: the pages' rules (meeting_rule: 404 to a non-member, or to a member who does not organise
    # the meetings for the writes); RCP bodies are reference data, every one shown to an administrator.
    Entry("rcp-body-list", no_kwargs, get=authenticated),
    Entry("rcp-body-detail", rcp_of_meeting, MEETINGS, get=meeting_rule(any_of(rcp_member, is_admin))),
    Entry("rcp-body-queue", rcp_of_meeting, MEETINGS, get=meeting_rule(rcp_member), lists="references"),
    Entry(
        "meeting-list",
        no_kwargs,
        get=authenticated,
        post=global_rule(lambda r, f: r in RCP_DECIDER, A.FORBIDDEN),
        data=meeting_body,
    ),
    Entry(
        "meeting-detail",
        dossier_pk,
        MEETINGS,
        get=meeting_rule(rcp_member),
        post=meeting_rule(rcp_decider),
        method="PATCH",
        data=body(date="2027-01-05", start_time="09:00", place="Ailleurs"),
    ),
    Entry("meeting-agenda", dossier_pk, MEETINGS, post=meeting_rule(rcp_decider), data=api_agenda_body),
    Entry("meeting-agenda-propose", dossier_pk, MEETINGS, post=meeting_rule(rcp_decider)),
    Entry(
        "meeting-agenda-item",
        meeting_with_reference,
        (*MEETINGS[:2], "meeting.paris~meeting.lyon", "meeting.lyon~meeting.paris"),
        post=meeting_rule(rcp_decider),
        method="DELETE",
    ),
    Entry(
        "meeting-attendance",
        dossier_pk,
        MEETINGS,
        post=meeting_rule(rcp_decider),
        method="PUT",
        data=api_attendance_body,
    ),
    Entry("meeting-minutes", dossier_pk, MEETINGS, get=meeting_rule(rcp_member), file=True),
    Entry(
        "dossier-decision-list",
        dossier_reference,
        DOSSIERS,
        post_targets=WRITES,
        get=scoped(view=sheet_view),
        post=scoped(lambda r, f: rcp_decider(r, f) and not prescribes(r, f), A.REFUSED, sheet_view),
        data=body(kind="postpone", reason="Examen complémentaire attendu."),
    ),
    Entry(
        "dossier-decision-corrections",
        reference_with_decision,
        (*DECIDED, "paris.finalised~lyon.report_delivered", "lyon.withdrawn~paris.withdrawn"),
        post=scoped(rcp_decider, A.REFUSED, sheet_view),
        data=body(text="Correction.", reason="Erreur de saisie."),
    ),
    Entry(
        "dossier-sheet-entry-preparation",
        dossier_reference,
        DOSSIERS,
        post_targets=WRITES,
        post=scoped(prescribes, A.REFUSED, sheet_view),
        data=body(note="Prête.", ready=True),
    ),
    Entry(
        "dossier-minutes-list",
        dossier_reference,
        (*DECIDED, "paris.submitted"),  # a dossier without a decision has no minutes yet
        get=scoped(view=lambda r, f: f.decided),
        file=True,
    ),
    Entry(
        "dossier-sheet-entry-list",
        dossier_reference,
        DOSSIERS,
        post_targets=WRITES,
        get=scoped(view=sheet_view),
        post=scoped(rcp_member, A.REFUSED, sheet_view),
        data=body(kind="correction", field="summary", text="Ajout."),
    ),
    Entry(
        "dossier-conclusion-list",
        dossier_reference,
        DOSSIERS,
        post_targets=WRITES,
        post=scoped(rcp_decider, A.REFUSED, sheet_view),
        data=body(**CONCLUSION),
    ),
    # The laboratory side of the API (labs.apis): the labs pages' rules, by reference.
    Entry(
        "dossier-sample-list",
        dossier_reference,
        LAB_DOSSIERS,
        get=scoped(),
        post_targets=LAB_WRITES,
        post=scoped(lambda r, f: r == f.prescriber or f.prescriber in ASSISTS.get(r, ()), A.REFUSED),
        data=body(person="1", sample_type="blood_edta", barcode="API-1", collected_on="", collected_by="IDE"),
        lists="names",
    ),
    Entry("dossier-shipment-list", dossier_reference, LAB_DOSSIERS, get=scoped(), lists="names"),
    Entry(
        "dossier-shipment-manifest",
        reference_with_shipment,
        ("paris.samples_shipped", "lyon.samples_shipped", "paris.report_signed")
        + ("paris.samples_shipped~lyon.samples_shipped", "lyon.samples_shipped~paris.samples_shipped"),
        get=scoped(),
        file=True,
    ),
    Entry(
        "dossier-report-list",
        dossier_reference,
        LAB_DOSSIERS,
        get=scoped(),
        post_targets=LAB_WRITES,
        post=scoped(lab_of, A.REFUSED),
        data=body(reason="Rectification."),
    ),
    Entry(
        "dossier-report-download",
        reference_with_report,
        ("paris.report_signed", "lyon.report_delivered", "paris.closed")
        + ("paris.report_signed~lyon.report_delivered", "lyon.report_delivered~paris.closed"),
        get=scoped(),
        file=True,
    ),
    # The routing, signature verification and prescription summary pages, through the API: the pages' rules.
    Entry(
        "dossier-routing",
        dossier_reference,
        post_targets=LAB_WRITES,
        post=scoped(any_of(rcp_decider, is_admin)),
        data=api_routing_body,
    ),
    Entry("report-verify", no_kwargs, post=lambda r, f: A.REFUSED),
    Entry(
        "dossier-summary",
        dossier_reference,
        ("paris.draft", "paris.submitted", "paris.withdrawn", "lyon.submitted", "lyon.withdrawn"),
        get=scoped(view=lambda r, f: f.status != "draft"),
        file=True,
    ),
    Entry(
        "laboratory-queue-list",
        lambda demo, t: {"code": "seqoia"},
        get=lab_queue_rule("seqoia"),
        lists="references",
    ),
    Entry("api-schema", no_kwargs, get=authenticated),
    Entry("api-docs", no_kwargs, get=authenticated),
    # A token for a username and password: bad credentials are a 400 to everyone, and count towards the lockout
    # only in axes' own table, left out of the fingerprint (the matrix never posts a real password).
    Entry(
        "api-token", no_kwargs, post=lambda r, f: A.OPEN_REFUSED, data=body(username="admin", password="x")
    ),
    # The user's own account pages: any logged-in user; an empty form is refused in the page.
    Entry("login_code", no_kwargs, get=public, post=lambda r, f: A.OPEN_REFUSED, data=body(code="000000")),
    Entry("account", no_kwargs, get=authenticated),
    Entry(
        "account_totp", no_kwargs, get=authenticated, post=lambda r, f: A.REFUSED, data=body(code="000000")
    ),
    Entry("password_change", no_kwargs, get=authenticated, post=lambda r, f: A.REFUSED),
    Entry("reauthenticate", no_kwargs, get=authenticated, post=lambda r, f: A.REFUSED),
    # Pro Santé Connect is off in the tests' settings: its pages answer 404 to everyone (its flow is tested end to
    # end against a real OpenID Connect provider in tests/test_pro_sante_connect.py); logout always works.
    Entry("oidc_authentication_init", no_kwargs, get=lambda r, f: A.ABSENT),
    Entry("oidc_authentication_callback", no_kwargs, get=lambda r, f: A.ABSENT),
    Entry("oidc_logout", no_kwargs, post=public),
    # Checking a PDF's signature: any logged-in user (a known report is named only to whoever may see it, tested
    # in labs/tests/test_signing.py); a POST without a file is refused in the page.
    Entry("labs_verify_report", no_kwargs, get=authenticated, post=lambda r, f: A.REFUSED),
]

ENTRY_BY_NAME = {entry.name: entry for entry in ENTRIES}

# The admin, by family: every URL of an admin site (a namespace here) answers its login page to whoever is not
# staff, whatever the object (these three excepted, which serve anyone).
ADMIN_NAMESPACES = {"admin"}
ADMIN_PUBLIC = {"admin:login", "admin:jsi18n", "admin:logout"}
# The auditor is staff too: the admin shows them the trail only (test_the_auditor_sees_only_the_trail).
AUDITORS = {"auditor"}
STAFF = ADMINS | AUDITORS

# Holes the matrix knows about, each the subject of a fix under way: the cell runs as a strict xfail (so it is
# flipped when fixed) and the entry's own test leaves it out. (url name, role, target, method): reason. Empty:
# the two found when the matrix was written (RCP minutes of a withdrawn dossier for its laboratory, the API
# schema for anonymous visitors) are fixed.
KNOWN_HOLES: dict[tuple[str, str, str, str], str] = {}


# --- Enumeration --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    name: str | None  # namespaced url name
    route: str  # the full route, for the message
    namespace: str


def url_patterns(resolver=None, prefix: str = "", namespace: str = "") -> list[Pattern]:
    """Every URL pattern of the project, walked from the root resolver."""
    resolver = resolver or get_resolver()
    found = []
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            ns = namespace
            if p.namespace:
                ns = f"{namespace}:{p.namespace}" if namespace else p.namespace
            found += url_patterns(p, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            name = f"{namespace}:{p.name}" if namespace and p.name else p.name
            found.append(Pattern(name, prefix + str(p.pattern), namespace))
    return found


def is_admin_pattern(p: Pattern) -> bool:
    return p.namespace.split(":")[0] in ADMIN_NAMESPACES


def uncovered() -> list[str]:
    """The patterns with no entry in the matrix (nor covered by the admin's family rule)."""
    return sorted(
        {f"{p.name or '(unnamed)'} -> /{p.route}" for p in url_patterns() if not is_admin_pattern(p)}
        - {f"{p.name} -> /{p.route}" for p in url_patterns() if p.name in ENTRY_BY_NAME}
    )


_SAMPLE = {"int": "1", "str": "1", "slug": "1", "path": "1", "uuid": "00000000-0000-0000-0000-000000000000"}


def admin_url(p: Pattern) -> str | None:
    """An address that resolves to the admin pattern ``p``, with sample values for its arguments."""
    route = p.route
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: _SAMPLE.get(m[1] or "str", "1"), route)
    route = route.replace("^", "").replace("$", "").replace("\\", "")
    route = re.sub(r"\(\?P<\w+>\.\*\)", "nowhere/", route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "1", route)
    url = "/" + route
    try:
        resolve(url)
    except Exception:  # noqa: BLE001 - unresolvable: reported by the caller
        return None
    return url


# --- The database fingerprint -------------------------------------------------------------------------------

FINGERPRINTED_APPS = (
    "people",
    "prescriptions",
    "rcp",
    "consent",
    "labs",
    "notifications",
    "admin",
)


@functools.cache
def fingerprinted_tables() -> list[str]:
    tables = set()
    for label in FINGERPRINTED_APPS:
        try:
            config = apps.get_app_config(label)
        except LookupError:
            continue
        for model in config.get_models(include_auto_created=True):
            if not model._meta.proxy and model._meta.managed:
                tables.add(model._meta.db_table)
    return sorted(tables)


_FINGERPRINT_SQL: str | None = None


class Fingerprint(tuple):
    """The tables' rows as ``fingerprint`` read them; on PostgreSQL also how many rows this transaction had written
    in each (``own_writes``), so that ``changed_tables`` can tell this test's writes from another connection's."""

    own_writes: dict[str, int] | None = None


def fingerprint() -> tuple:
    """Row count and a hash of every row of the project's own tables (one query on PostgreSQL)."""
    global _FINGERPRINT_SQL
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            if _FINGERPRINT_SQL is None:
                # Table names come from the app registry, not from input.
                one = "SELECT '{t}', count(*), md5(coalesce(string_agg(md5(x::text), '' ORDER BY md5(x::text)), ''))"
                _FINGERPRINT_SQL = " UNION ALL ".join(
                    one.format(t=t) + f" FROM {qn(t)} x"  # noqa: S608
                    for t in fingerprinted_tables()
                )
            cursor.execute(_FINGERPRINT_SQL)
            result = Fingerprint(cursor.fetchall())
            cursor.execute(
                "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables"
                " WHERE relname = ANY(%s)",
                [fingerprinted_tables()],
            )
            result.own_writes = dict(cursor.fetchall())
            return result
        rows = []
        for t in fingerprinted_tables():
            cursor.execute(f"SELECT * FROM {qn(t)}")  # noqa: S608 - table names from the app registry
            content = sorted(repr(r) for r in cursor.fetchall())
            rows.append((t, len(content), hashlib.md5("".join(content).encode()).hexdigest()))  # noqa: S324
        return tuple(rows)


def write_count() -> int:
    """Rows written so far by this transaction in the fingerprinted tables (PostgreSQL counts them for us): when
    it has not moved, nothing changed and the fingerprint need not be taken. Elsewhere: always take it."""
    if connection.vendor != "postgresql":
        return next(_NEVER_EQUAL)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_xact_user_tables"
            " WHERE relname = ANY(%s)",
            [fingerprinted_tables()],
        )
        return cursor.fetchone()[0]


_NEVER_EQUAL = itertools.count()


def changed_tables(before: tuple, after: tuple) -> list[str]:
    """The tables whose rows differ between two fingerprints. On PostgreSQL, only those this transaction wrote
    to in between: a row another connection committed meanwhile (a process left by an earlier test of the
    suite) is not the doing of the request under test."""
    mine_before = getattr(before, "own_writes", None)
    mine_after = getattr(after, "own_writes", None)
    changed = [b[0] for b, a in zip(before, after, strict=True) if b != a]
    if mine_before is None or mine_after is None:
        return changed
    return [t for t in changed if mine_before.get(t, 0) != mine_after.get(t, 0)]


# --- Running a cell -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    name: str
    role: str
    target: str
    method: str

    def __str__(self) -> str:
        return f"{self.method} {self.name} [{self.target}] as {self.role}"


def expected(demo: Demo, entry: Entry, cell: Cell) -> Outcome:
    rule = entry.get if cell.method == "GET" else entry.post
    fact = demo.fact(cell.target)
    outcome = rule(cell.role, fact)
    if cell.role == ANONYMOUS or (cell.role in MACHINES and not _token_path(demo, entry, cell)):
        return outcome if outcome in (A.PUBLIC, A.ABSENT, A.OPEN_REFUSED) else A.LOGIN
    if outcome is A.ALLOW and fact.kind == "dossier" and identity_hidden(cell.role, fact):
        # A withdrawn dossier: its laboratory never identifies its persons and may do nothing more on it.
        if cell.method != "GET":
            return A.REFUSED
        return A.HIDDEN if entry.file else A.NO_IDENTITY
    return outcome


def _token_path(demo: Demo, entry: Entry, cell: Cell) -> bool:
    """The cell's URL is one the matrix sends a token to (the API, FHIR) rather than a session."""
    return reverse(entry.name, kwargs=entry.kwargs(demo, cell.target)).startswith(TOKEN_PATHS)


def cells(demo: Demo, entry: Entry, roles=ALL_ROLES) -> list[Cell]:
    """The cells of an entry worth a request: every refusal; of the allowed reads, one per target (the proof
    that the URL is built right and the object reachable), and all of them on list pages (checked for leaks)
    and where a laboratory sees a withdrawn dossier (checked for names)."""
    found = []
    for method, rule, targets in (
        ("GET", entry.get, entry.targets),
        (entry.method, entry.post, entry.post_targets or entry.targets),
    ):
        if rule is None:
            continue
        for target in targets:
            allowed_seen = False
            for role in roles:
                cell = Cell(entry.name, role, target, method)
                want = expected(demo, entry, cell)
                if want is A.ALLOW:
                    if method != "GET" or (allowed_seen and not entry.lists):
                        continue
                    allowed_seen = True
                found.append(cell)
    return found


def _names_of(demo: Demo, key: str) -> list[str]:
    return demo.names.get(demo.pks[key], [])


def _contains_name(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def _leaks(demo: Demo, role: str, text: str, references: bool) -> list[str]:
    """Names (and ``references``) of dossiers outside ``role``'s scope, or whose persons it may not identify."""
    found = []
    for key, fact in demo.facts.items():
        if fact.kind != "dossier":
            continue
        pk = demo.pks[key]
        if references and not sees(role, fact) and demo.references[pk] in text:
            found.append(f"reference {demo.references[pk]} ({key})")
        if not sees(role, fact) or identity_hidden(role, fact):
            for name in demo.names.get(pk, []):
                if _contains_name(text, name) and not _shared_name(demo, role, name):
                    found.append(f"name {name} ({key})")
    return found


def _shared_name(demo: Demo, role: str, name: str) -> bool:
    """The same birth name belongs to a person of a dossier the role may identify (a relative's, say)."""
    return any(
        fact.kind == "dossier"
        and sees(role, fact)
        and not identity_hidden(role, fact)
        and name in demo.names.get(demo.pks[key], [])
        for key, fact in demo.facts.items()
    )


def _is_login_redirect(response, path: str) -> bool:
    if response.status_code != 302:
        return False
    location = response["Location"]
    if path.startswith("/admin/"):
        return location.startswith(reverse("admin:login"))
    return location.startswith(reverse(settings.LOGIN_URL))


def check(demo: Demo, entry: Entry, cell: Cell) -> str | None:
    """Run one cell; the violation it shows, or None."""
    want = expected(demo, entry, cell)
    if want is A.ALLOW and cell.method != "GET":
        return None  # an authorised write is the business of the app's own tests
    url = reverse(cell.name, kwargs=entry.kwargs(demo, cell.target))
    return run(demo, cell, url, want, entry)


def run(demo: Demo, cell: Cell, url: str, want: Outcome, entry: Entry | None = None) -> str | None:
    client = demo.client(cell.role, url)
    data = entry.data(demo, cell.target, cell.role) if entry and entry.data and cell.method != "GET" else {}
    watch = cell.method != "GET" and want is not A.PUBLIC
    with transaction.atomic():
        writes = write_count() if watch else 0
        if cell.method == "GET":
            response = client.get(url)
        elif cell.method == "POST":
            response = client.post(url, data)
        else:
            response = getattr(client, cell.method.lower())(url, data, content_type="application/json")
        before = demo.baseline
        after = fingerprint() if watch and write_count() != writes else before
        text = ""
        if want in (A.NO_IDENTITY, A.ALLOW) and response.status_code == 200 and not response.streaming:
            text = response.content.decode(errors="replace")
        problem = _judge(demo, cell, url, want, response, text, entry)
        if problem is None and watch and before != after and changed_tables(before, after):
            problem = f"a refused POST changed {', '.join(changed_tables(before, after))} (HTTP {response.status_code})"
        if problem is None and entry is not None and entry.lists and text:
            leaks = _leaks(demo, cell.role, text, references=entry.lists == "references")
            if leaks:
                problem = f"the page shows {', '.join(leaks)}"
        transaction.set_rollback(True)
    return f"{cell} {url}: expected {want.value}, {problem}" if problem else None


def _judge(demo, cell, url, want, response, text, entry) -> str | None:
    status = response.status_code
    got = f"got {status}" + (f" -> {response['Location']}" if status in (301, 302) else "")
    if status >= 500 and not (cell.name == "healthz" and status == 503):
        return got
    if want in (A.HIDDEN, A.ABSENT):
        return None if status == 404 else got
    if want is A.FORBIDDEN:
        return None if status == 403 else got
    if want is A.LOGIN:
        if url.startswith(("/api/", "/fhir/")):
            # A program gets 401/403; the browsable docs page sends a browser to the login page.
            return None if status in (401, 403) or _is_login_redirect(response, url) else got
        return None if _is_login_redirect(response, url) else got
    if want in (A.REFUSED, A.OPEN_REFUSED):
        return None if status < 500 else got
    if want is A.PUBLIC:
        return None if status < 400 or status == 405 or cell.name == "healthz" else got
    if want is A.NO_IDENTITY:
        if status == 404:
            return None
        if status != 200:
            return got
        shown = [
            n for n in _names_of(demo, cell.target.split("~")[0].split(":")[0]) if _contains_name(text, n)
        ]
        return f"got 200 showing {', '.join(shown)}" if shown else None
    # ALLOW
    if status in (403, 404) or _is_login_redirect(response, url) or status >= 400:
        return got
    return None


@contextmanager
def seeded_demo(django_db_blocker, media) -> Iterator[Any]:
    """The demo seeded once for a test module, every demo role logged in (second factor verified), inside a
    transaction rolled back at the end: other modules see an untouched database. Shared by the access matrix
    and the query counts."""
    from django.core.management import call_command
    from django.utils import timezone

    from people.auth import LAST_SEEN
    from people.models import ApiToken, Region, User
    from people.services import issue_api_token
    from pfmg.celery import app
    from pfmg.demo import seed_demo

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    with (
        django_db_blocker.unblock(),
        override_settings(
            MEDIA_ROOT=media, PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
        ),
        transaction.atomic(),
    ):
        if not Region.objects.exists():
            call_command("load_reference", verbosity=0)
        seed_demo()
        users = {u.username: u for u in User.objects.filter(username__in=ROLES)}
        demo = build_demo(users)
        for role in ROLES:
            client = Client()
            client.force_login(users[role])
            verify_second_factor(client, users[role])
            # Seen "in the future": no cell rewrites the session's last-seen stamp, which people.middleware does at
            # most once a minute and which would land, by the clock, on whichever page a slow run reaches then.
            session = client.session
            session[LAST_SEEN] = time.time() + 24 * 3600
            session.save()
            demo.sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
            token, demo.tokens[role] = issue_api_token(user=users[role])
            # Marked as used in the future: no cell records a use (a write every rolled-back cell would make).
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() + dt.timedelta(days=1))
        demo.extra["media"] = media
        try:
            yield demo
        finally:
            transaction.set_rollback(True)
            app.conf.task_always_eager = eager
