"""Reads of consents. The choices a person made are enforced here, where every onward use reads them: the
laboratories ask ``may_report_additional_findings``; every export to research reads ``research_cohort``."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from people.models import User
from prescriptions.folding import Fold, folded
from prescriptions.models import Category, Dossier, DossierPerson, DossierPhenotype

from .models import (
    Audience,
    Choice3,
    ConsentRecord,
    ConsentTemplate,
    ConsentTemplateVersion,
    DataDeletion,
    ResearchChoice,
    Situation,
    Withdrawal,
)
from .rules import cares_for_dossier


def may_report_additional_findings(person: DossierPerson) -> bool:
    """True only if ``person`` signed a consent that says yes to additional findings, and neither that part nor
    the whole consent was withdrawn. No consent, "no" and "not asked" all mean no."""
    consent = (
        ConsentRecord.objects.filter(person_id=person.pk, analysis_accepted=True)
        .prefetch_related("withdrawals")
        .first()
    )
    return consent is not None and consent.effective_additional_findings == Choice3.YES


# Dossiers whose data exist or are being produced, and that nobody withdrew from.
EXPORTABLE_STATUSES = [
    Dossier.Status.FINALISED,
    Dossier.Status.SAMPLES_SHIPPED,
    Dossier.Status.RECEIVED,
    Dossier.Status.SEQUENCING,
    Dossier.Status.ANALYSIS,
    Dossier.Status.REPORT_SIGNED,
    Dossier.Status.REPORT_DELIVERED,
    Dossier.Status.CLOSED,
]


def research_cohort() -> QuerySet[DossierPerson]:
    """The sequenced persons whose data may go to research (the national data centre, CAD): those whose signed
    consent accepts the analysis and who did not object to research reuse, and withdrew neither that part nor
    the whole. A person never asked is left out: nothing shows they were informed of their right to object.

    Every export and every API that sends data onwards reads this selector, and nothing else."""
    withdrawn = Withdrawal.objects.filter(
        consent__person=OuterRef("pk"), scope__in=[Withdrawal.Scope.ALL, Withdrawal.Scope.RESEARCH]
    )
    return (
        DossierPerson.objects.filter(
            to_be_sequenced=True,
            dossier__status__in=EXPORTABLE_STATUSES,
            consent__analysis_accepted=True,
            consent__research_reuse=ResearchChoice.ACCEPTS,
        )
        .exclude(Exists(withdrawn))
        .exclude(Exists(DataDeletion.objects.filter(dossier=OuterRef("dossier"))))
        .select_related("dossier__pre_indication_version__pre_indication", "patient")
        .prefetch_related(
            Prefetch(
                "dossier__phenotypes",
                queryset=DossierPhenotype.objects.select_related("term").order_by("term_id"),
            )
        )
        .order_by("dossier__reference", "id")
    )


def situation_of(dossier: Dossier) -> str:
    category = dossier.pre_indication_version.pre_indication.category
    return Situation.RARE_DISEASE if category == Category.RARE_DISEASE else Situation.CANCER


# A consent as the consents page and the API show it: its form, who collected and recorded it, its withdrawals.
CONSENT_RELATED = ("template_version__template", "collected_by", "supervising_geneticist", "recorded_by")
WITHDRAWALS = Prefetch("withdrawals", queryset=Withdrawal.objects.select_related("recorded_by"))


def consents_for(user: User, dossier: Dossier) -> list[DossierPerson] | None:
    """The persons to be sequenced with their consent (``person.consent_record``, or None), or None if ``user``
    does not care for the dossier (consent data are not shown to laboratories nor to RCP members)."""
    if not cares_for_dossier.test(user, dossier):
        return None
    consents = ConsentRecord.objects.select_related(*CONSENT_RELATED).prefetch_related(WITHDRAWALS)
    persons = list(dossier.persons.filter(to_be_sequenced=True).select_related("patient").order_by("id"))
    by_person = {c.person_id: c for c in consents.filter(person__in=[p.pk for p in persons])}
    for person in persons:
        person.consent_record = by_person.get(person.pk)
    return persons


# Each person's consent and its withdrawals, loaded with the dossier on its page (prescriptions.folding): the
# panel and the finalise requirement read them there.
PANEL_FOLD = Fold(
    "consent",
    related=("template_version__template", "collected_by", "supervising_geneticist"),
    nested=(Fold("withdrawals", order=("withdrawn_on", "id")),),
)


def missing_consents(dossier: Dossier) -> list[DossierPerson]:
    """The persons to be sequenced without a signed consent that accepts the analysis (for the finalise gate)."""
    persons = folded(dossier, "persons")
    if persons is not None and all(PANEL_FOLD.relation in p._state.fields_cache for p in persons):
        return [
            p
            for p in persons
            if p.to_be_sequenced
            and not ((consent := getattr(p, "consent", None)) is not None and consent.accepts_analysis)
        ]
    accepted = ConsentRecord.objects.filter(person=OuterRef("pk"), analysis_accepted=True).exclude(
        Exists(Withdrawal.objects.filter(consent=OuterRef("pk"), scope=Withdrawal.Scope.ALL))
    )
    return list(
        dossier.persons.filter(to_be_sequenced=True)
        .exclude(Exists(accepted))
        .select_related("patient")
        .order_by("id")
    )


def person_for(user: User, dossier: Dossier, person_pk: int) -> DossierPerson | None:
    """One person to be sequenced of a dossier the user cares for, or None."""
    if not cares_for_dossier.test(user, dossier):
        return None
    return (
        dossier.persons.filter(pk=person_pk, to_be_sequenced=True)
        .select_related("patient", "dossier__pre_indication_version__pre_indication")
        .first()
    )


def consent_of(person: DossierPerson) -> ConsentRecord | None:
    return (
        ConsentRecord.objects.filter(person=person)
        .select_related(*CONSENT_RELATED)
        .prefetch_related(WITHDRAWALS)
        .first()
    )


def audience_for_form(person: DossierPerson, on=None) -> str:
    """Which consent form fits a person: a minor's or a fetus's, a deceased person's relatives', an adult's."""
    patient = person.patient
    day = on or timezone.localdate()
    if patient.is_deceased:
        return Audience.RELATIVE_OF_DECEASED
    if patient.is_fetus or (patient.date_of_birth and _age(patient.date_of_birth, day) < 18):
        return Audience.MINOR
    return Audience.ADULT


def _age(born, on) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def form_versions(dossier: Dossier) -> QuerySet[ConsentTemplateVersion]:
    """Every consent form version of the dossier's situation (rare disease or cancer) that has come into force,
    the newest first: a form signed some time ago is recorded with the version it was printed from."""
    return (
        ConsentTemplateVersion.objects.filter(
            template__kind=ConsentTemplate.Kind.FORM,
            template__situation=situation_of(dossier),
            effective_from__lte=timezone.localdate(),
        )
        .select_related("template")
        .order_by("template__audience", "template__reading_level", "-number")
    )


def current_form_version(dossier: Dossier, audience: str) -> ConsentTemplateVersion | None:
    today = timezone.localdate()
    return (
        ConsentTemplateVersion.objects.filter(
            template__kind=ConsentTemplate.Kind.FORM,
            template__situation=situation_of(dossier),
            template__audience=audience,
            template__reading_level="standard",
            effective_from__lte=today,
        )
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=today))
        .select_related("template")
        .order_by("-number")
        .first()
    )


def notices_in_force() -> list[ConsentTemplateVersion]:
    """The notices (and blank forms) in force today, for the public "Patients et familles" page."""
    today = timezone.localdate()
    versions = (
        ConsentTemplateVersion.objects.filter(effective_from__lte=today)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=today))
        .select_related("template")
        .order_by(
            "template__kind",
            "template__situation",
            "template__audience",
            "template__reading_level",
            "-number",
        )
    )
    latest: dict[int, ConsentTemplateVersion] = {}
    for version in versions:
        latest.setdefault(version.template_id, version)
    return list(latest.values())


def deletions_due(on=None) -> QuerySet[DataDeletion]:
    day = on or timezone.localdate()
    return DataDeletion.objects.filter(due_on__lte=day, purged_at__isnull=True).select_related("dossier")


def finalise_requirement(dossier: Dossier) -> list[str]:
    """What the finalise gate says is missing: one line per person to be sequenced without a signed consent that
    accepts the analysis (naming them: the prescriber must know whom to see)."""
    if not dossier.pk:
        return []
    return [
        _("Consentement signé acceptant l'analyse manquant : %(person)s (%(role)s).")
        % {"person": person.patient, "role": person.get_relationship_display()}
        for person in missing_consents(dossier)
    ]
