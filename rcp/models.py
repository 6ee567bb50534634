"""RCP-FMG meetings and their agendas, the decisions on dossiers, the RCP sheet's reviews, RCP d'aval conclusions.

The bodies themselves (RcpBody, RcpMembership) live in ``people``. Decisions, corrections, sheet entries and
conclusions are written once and never edited: a correction is a new record linked to what it corrects.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Meeting(models.Model):
    """A session of an RCP-FMG: upstream (validates prescriptions) or downstream (discusses results)."""

    class Kind(models.TextChoices):
        UPSTREAM = "upstream", _("RCP d'amont (validation des prescriptions)")
        DOWNSTREAM = "downstream", _("RCP d'aval (discussion des résultats)")

    rcp = models.ForeignKey(
        "people.RcpBody", verbose_name=_("RCP-FMG"), on_delete=models.PROTECT, related_name="meetings"
    )
    kind = models.CharField(_("type de séance"), max_length=20, choices=Kind.choices, default=Kind.UPSTREAM)
    date = models.DateField(_("date"))
    start_time = models.TimeField(_("heure"))
    place = models.CharField(_("lieu"), max_length=200, blank=True)
    video_link = models.URLField(_("lien de visioconférence"), blank=True)
    present = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("membres présents"),
        related_name="rcp_meetings_attended",
        blank=True,
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("créée par"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("créée le"), default=timezone.now)
    # Last change to what the minutes show (agenda, attendance, decisions): a stored render older is stale.
    updated_at = models.DateTimeField(_("dernière modification"), default=timezone.now)

    class Meta:
        ordering = ["date", "start_time", "id"]
        verbose_name = _("séance de RCP-FMG")
        verbose_name_plural = _("séances de RCP-FMG")
        constraints = [
            models.CheckConstraint(
                condition=~Q(place="", video_link=""), name="rcp_meeting_has_place_or_link"
            ),
        ]
        indexes = [models.Index(fields=["rcp", "date"])]

    def __str__(self) -> str:
        return f"{self.rcp} — {self.date:%d/%m/%Y} {self.start_time:%H:%M}"

    @property
    def reference(self) -> str:
        return f"RCP-{self.date:%Y%m%d}-{self.pk:05d}"

    @property
    def starts_at(self) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(self.date, self.start_time))

    @property
    def is_upstream(self) -> bool:
        return self.kind == self.Kind.UPSTREAM


class AgendaItem(models.Model):
    """A dossier on a meeting's agenda."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="items")
    dossier = models.ForeignKey(
        "prescriptions.Dossier",
        verbose_name=_("dossier"),
        on_delete=models.PROTECT,
        related_name="rcp_agenda_items",
    )
    position = models.PositiveSmallIntegerField(_("ordre"), default=0)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(_("ajouté le"), default=timezone.now)

    class Meta:
        ordering = ["meeting", "position", "id"]
        verbose_name = _("dossier à l'ordre du jour")
        verbose_name_plural = _("ordre du jour")
        constraints = [models.UniqueConstraint(fields=["meeting", "dossier"], name="rcp_agenda_item_unique")]

    def __str__(self) -> str:
        return f"{self.meeting} — {self.dossier}"


class Decision(models.Model):
    """The RCP d'amont's decision on a dossier. Final once recorded: never edited, corrected by a new record."""

    class Kind(models.TextChoices):
        VALIDATE = "validate", _("Avis favorable")
        REJECT = "reject", _("Avis défavorable")
        REQUEST_MORE_INFO = "request_more_info", _("Demande de complément d'information")
        POSTPONE = "postpone", _("Ajourné (reporté à une prochaine séance)")

    # The decisions that are a transition of the dossier (postponing leaves it awaiting the RCP).
    TRANSITIONS = (Kind.VALIDATE, Kind.REJECT, Kind.REQUEST_MORE_INFO)
    REASON_REQUIRED = (Kind.REJECT, Kind.REQUEST_MORE_INFO)

    dossier = models.ForeignKey(
        "prescriptions.Dossier",
        verbose_name=_("dossier"),
        on_delete=models.PROTECT,
        related_name="rcp_decisions",
    )
    meeting = models.ForeignKey(
        Meeting,
        verbose_name=_("séance"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="decisions",
    )
    kind = models.CharField(_("décision"), max_length=30, choices=Kind.choices)
    reason = models.TextField(_("motif ou questions"), blank=True, max_length=4000)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enregistrée par"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("enregistrée le"), db_index=True)
    event = models.OneToOneField(
        "prescriptions.DossierEvent",
        verbose_name=_("événement du dossier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rcp_decision",
    )

    class Meta:
        ordering = ["recorded_at", "id"]
        verbose_name = _("décision de RCP-FMG")
        verbose_name_plural = _("décisions de RCP-FMG")
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind__in=["reject", "request_more_info"]) | ~Q(reason=""),
                name="rcp_decision_reason_when_required",
            ),
            models.CheckConstraint(
                condition=Q(kind="postpone") | Q(event__isnull=False),
                name="rcp_decision_transition_has_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dossier} — {self.get_kind_display()}"


class DecisionCorrection(models.Model):
    """A reasoned correction of a recorded decision (a mistyped reason, a wrong meeting…), never an edit."""

    decision = models.ForeignKey(
        Decision, verbose_name=_("décision corrigée"), on_delete=models.PROTECT, related_name="corrections"
    )
    text = models.TextField(_("correction"), max_length=4000)
    reason = models.TextField(_("motif de la correction"), max_length=1000)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enregistrée par"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("enregistrée le"), default=timezone.now)

    class Meta:
        ordering = ["recorded_at", "id"]
        verbose_name = _("correction de décision")
        verbose_name_plural = _("corrections de décision")
        constraints = [
            models.CheckConstraint(condition=~Q(text="") & ~Q(reason=""), name="rcp_correction_reasoned"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} — {_('correction')}"


class SheetEntry(models.Model):
    """What a reviewer corrected or added on a dossier's RCP sheet, or an assistant's preparation of it.

    The dossier itself is never overwritten: the sheet shows the dossier as prescribed and these entries."""

    class Kind(models.TextChoices):
        PREPARATION = "preparation", _("Préparation de la fiche")
        CORRECTION = "correction", _("Correction")
        ADDITION = "addition", _("Ajout")

    class Field(models.TextChoices):
        PRE_INDICATION = "pre_indication", _("Pré-indication")
        CRITERIA = "criteria", _("Critères de la fiche")
        FAMILY = "family", _("Structure familiale")
        PHENOTYPES = "phenotypes", _("Termes HPO")
        CLINICAL_SUMMARY = "clinical_summary", _("Résumé clinique")
        PRIOR_TESTS = "prior_tests", _("Examens antérieurs")
        DOCUMENTS = "documents", _("Documents")
        OTHER = "other", _("Autre")

    dossier = models.ForeignKey(
        "prescriptions.Dossier", on_delete=models.CASCADE, related_name="rcp_sheet_entries"
    )
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices)
    field = models.CharField(_("rubrique"), max_length=30, choices=Field.choices, blank=True)
    text = models.TextField(_("texte"), max_length=4000)
    ready = models.BooleanField(_("fiche prête pour la séance"), default=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("auteur"), on_delete=models.PROTECT, related_name="+"
    )
    at = models.DateTimeField(_("le"), default=timezone.now)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("entrée de la fiche RCP")
        verbose_name_plural = _("entrées de la fiche RCP")
        constraints = [
            models.CheckConstraint(condition=~Q(text=""), name="rcp_sheet_entry_has_text"),
            models.CheckConstraint(
                condition=Q(kind="preparation") | ~Q(field=""), name="rcp_sheet_review_names_its_field"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dossier} — {self.get_kind_display()}"


class DownstreamConclusion(models.Model):
    """The conclusion of the RCP d'aval on a dossier's result."""

    dossier = models.OneToOneField(
        "prescriptions.Dossier",
        verbose_name=_("dossier"),
        on_delete=models.PROTECT,
        related_name="rcp_conclusion",
    )
    meeting = models.ForeignKey(
        Meeting,
        verbose_name=_("séance"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="conclusions",
    )
    interpretation = models.TextField(_("interprétation retenue"), max_length=5000)
    care_recommendations = models.TextField(
        _("recommandations de prise en charge"), blank=True, max_length=5000
    )
    family_recommendations = models.TextField(
        _("recommandations pour la famille"), blank=True, max_length=5000
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("enregistrée par"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("enregistrée le"), default=timezone.now)

    class Meta:
        verbose_name = _("conclusion de RCP d'aval")
        verbose_name_plural = _("conclusions de RCP d'aval")
        constraints = [
            models.CheckConstraint(condition=~Q(interpretation=""), name="rcp_conclusion_has_interpretation"),
        ]

    def __str__(self) -> str:
        return f"{self.dossier} — {_('conclusion')}"
