"""The pre-filled consent form of a person (printed, signed, scanned back) and the notices' PDFs.

Like the prescription summary, a form is stored through the default storage under a name carrying the hash of
its bytes (rendering is deterministic), at ``renders/<reference>/consent-form-<person>-<hash>.pdf``."""

from __future__ import annotations

import datetime as dt

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pfmg.pdf import latest_render, render_pdf, store_render
from prescriptions.models import DossierPerson

from .models import Agreement, Choice3, ConsentTemplateVersion, RelativesChoice, ResearchChoice
from .selectors import audience_for_form, current_form_version

FORM_TEMPLATE = "pdf/consent_form.html"
NOTICE_TEMPLATE = "pdf/consent_notice.html"


def person_for_rendering(pk: int) -> DossierPerson:
    """Not scoped to a user: for the rendering task, which acts for the system (views go through selectors)."""
    return DossierPerson.objects.select_related(
        "patient",
        "dossier__pre_indication_version__pre_indication",
        "dossier__prescriber",
        "dossier__establishment",
    ).get(pk=pk)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def render_consent_form(person: DossierPerson) -> bytes:
    dossier = person.dossier
    version = current_form_version(dossier, audience_for_form(person))
    context = {
        "person": person,
        "patient": person.patient,
        "dossier": dossier,
        "version": version,
        "paragraphs": _paragraphs(version.body) if version else [],
        "findings_choices": Choice3.choices,
        "research_choices": ResearchChoice.choices,
        "relatives_choices": RelativesChoice.choices,
        "agreement_choices": [c for c in Agreement.choices if c[0] != Agreement.NOT_APPLICABLE],
    }
    return render_pdf(
        FORM_TEMPLATE,
        context,
        reference=dossier.reference,
        title=_("Formulaire de consentement au séquençage du génome"),
        created=dossier.created_at,
    )


def form_location(person: DossierPerson) -> tuple[str, str]:
    """The folder and file-name prefix of the person's pre-filled form renders."""
    return f"renders/{person.dossier.reference}", f"consent-form-{person.pk}-"


def store_consent_form(person: DossierPerson) -> str:
    return store_render(*form_location(person), render_consent_form(person))


def consent_form_path(person: DossierPerson) -> str | None:
    """The latest stored render of the person's form, or None."""
    return latest_render(*form_location(person))


def current_consent_form_path(person: DossierPerson) -> str:
    """A stored render made after the dossier's last activity (identities only change with it), else one now."""
    path = consent_form_path(person)
    if path is not None and default_storage.get_modified_time(path) >= person.dossier.updated_at:
        return path
    return store_consent_form(person)


def notice_path(version: ConsentTemplateVersion) -> str:
    """A notice version in force never changes: rendered once, then served from storage."""
    path = f"notices/{version.template.slug}-v{version.number}.pdf"
    if not default_storage.exists(path):
        created = timezone.make_aware(dt.datetime.combine(version.effective_from, dt.time(12)))
        data = render_pdf(
            NOTICE_TEMPLATE,
            {"version": version, "paragraphs": _paragraphs(version.body)},
            reference=f"{version.template.slug}-v{version.number}",
            title=version.template.title,
            created=created,
        )
        default_storage.save(path, ContentFile(data))
    return path
