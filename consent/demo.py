"""Demo data of this app, called by ``pfmg.demo`` (which owns the demo and its cast)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from .models import Agreement, Choice3, PersonStatus, RelativesChoice, ResearchChoice
from .selectors import audience_for_form, current_form_version, missing_consents
from .services import load_consent_templates, record_consent

if TYPE_CHECKING:
    from people.models import User
    from pfmg.demo import Cast
    from prescriptions.models import Dossier

# A minimal valid one-page PDF: the "scan" of a signed form in the demo and in tests that walk dossiers.
DEMO_SCAN = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


def seed_reference(users: dict[str, User]) -> None:
    """Before any demo dossier is walked (idempotent: ``seed_demo`` runs on every ``make run``)."""
    load_consent_templates()


def record_demo_consents(dossier: Dossier, actor: User, at: dt.datetime) -> None:
    """A signed consent accepting the analysis for every person to be sequenced who has none yet."""
    for person in missing_consents(dossier):
        audience = audience_for_form(person, timezone.localdate(at))
        status = {"minor": PersonStatus.MINOR, "relative_of_deceased": PersonStatus.DECEASED}.get(
            audience, PersonStatus.ADULT
        )
        record_consent(
            person=person,
            actor=actor,
            template_version=current_form_version(dossier, audience),
            person_status=status,
            signed_by_person=status == PersonStatus.ADULT,
            parent_signatory_1="Sarah DURAND" if status == PersonStatus.MINOR else "",
            relative_signatory="Proche de démonstration" if status == PersonStatus.DECEASED else "",
            person_agreement=Agreement.GIVEN
            if status == PersonStatus.MINOR and not person.patient.is_fetus
            else Agreement.NOT_APPLICABLE,
            analysis_accepted=True,
            additional_findings=Choice3.YES,
            research_reuse=ResearchChoice.ACCEPTS,
            relatives_information=RelativesChoice.DOCTOR,
            signed_on=timezone.localdate(at),
            collected_by=dossier.prescriber,
            scan=SimpleUploadedFile("consentement.pdf", DEMO_SCAN, content_type="application/pdf"),
            at=at,
        )


def prepare(name: str, dossier: Dossier, cast: Cast, at: dt.datetime) -> None:
    """Called just before ``pfmg.demo.walk`` fires transition ``name`` on ``dossier``: create what this app
    requires of that transition (so the demo, and the tests that walk dossiers, pass the real conditions)."""
    if name == "finalise":
        load_consent_templates()  # a test's database may have been flushed since the reference data were loaded
        record_demo_consents(dossier, dossier.prescriber, at)


def seed_extras(users: dict[str, User]) -> None:
    """After the demo dossiers exist (idempotent)."""
