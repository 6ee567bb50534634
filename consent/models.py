"""Consent templates and information notices (versioned), consent records per sequenced person, withdrawals,
and the deletion due after a full withdrawal."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Situation(models.TextChoices):
    RARE_DISEASE = "rare_disease", _("Maladies rares")
    CANCER = "cancer", _("Cancers")


class Audience(models.TextChoices):
    ADULT = "adult", _("Personne majeure")
    MINOR = "minor", _("Personne mineure")
    PROTECTED_ADULT = "protected_adult", _("Majeur·e protégé·e")
    PARENT = "parent", _("Parent ou représentant légal")
    RELATIVE_OF_DECEASED = "relative_of_deceased", _("Proche d'une personne décédée")


class ReadingLevel(models.TextChoices):
    STANDARD = "standard", _("Standard")
    SIMPLIFIED = "simplified", _("Simplifié")
    EASY_TO_READ = "easy_to_read", _("Facile à lire et à comprendre (FALC)")


class ConsentTemplate(models.Model):
    """The stable identity of a consent form or an information notice. What it says lives in its versions."""

    class Kind(models.TextChoices):
        FORM = "form", _("Formulaire de consentement")
        NOTICE = "notice", _("Notice d'information")

    slug = models.SlugField(_("identifiant"), max_length=120, unique=True)
    kind = models.CharField(_("type"), max_length=10, choices=Kind.choices)
    situation = models.CharField(_("situation"), max_length=20, choices=Situation.choices)
    audience = models.CharField(_("personne concernée"), max_length=30, choices=Audience.choices)
    reading_level = models.CharField(
        _("niveau de lecture"), max_length=20, choices=ReadingLevel.choices, default=ReadingLevel.STANDARD
    )
    title = models.CharField(_("titre"), max_length=200)

    class Meta:
        ordering = ["kind", "situation", "audience", "reading_level"]
        verbose_name = _("modèle de consentement ou notice")
        verbose_name_plural = _("modèles de consentement et notices")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "situation", "audience", "reading_level"], name="consent_template_unique"
            )
        ]

    def __str__(self) -> str:
        return self.title

    def current_version(self, on=None) -> ConsentTemplateVersion | None:
        day = on or timezone.localdate()
        return (
            self.versions.filter(effective_from__lte=day)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=day))
            .order_by("-number")
            .first()
        )


class ConsentTemplateVersion(models.Model):
    """One version of a form or notice. Immutable once in force: a change is a new version."""

    template = models.ForeignKey(ConsentTemplate, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    body = models.TextField(_("texte"))
    effective_from = models.DateField(_("en vigueur du"))
    effective_to = models.DateField(_("en vigueur jusqu'au"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "number"]
        verbose_name = _("version de modèle ou de notice")
        verbose_name_plural = _("versions de modèles et de notices")
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="consent_template_version_unique"),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="consent_template_version_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template.title} (v{self.number}, {self.effective_from:%d/%m/%Y})"

    def save(self, *args, **kwargs):
        if self.pk:
            stored = type(self).objects.filter(pk=self.pk).first()
            if stored and stored.effective_from <= timezone.localdate():
                changed = stored.body != self.body or stored.effective_from != self.effective_from
                if changed or stored.template_id != self.template_id or stored.number != self.number:
                    # Only its end date may still be set (when a newer version replaces it).
                    raise ValidationError(
                        _(
                            "Cette version est en vigueur : elle ne peut plus être modifiée. Créez une version."
                        )
                    )
        super().save(*args, **kwargs)


class Choice3(models.TextChoices):
    YES = "yes", _("Oui")
    NO = "no", _("Non")
    NOT_ASKED = "not_asked", _("Question non posée")


class ResearchChoice(models.TextChoices):
    ACCEPTS = "accepts", _("Ne s'oppose pas")
    OBJECTS = "objects", _("S'oppose")
    NOT_ASKED = "not_asked", _("Question non posée")


class RelativesChoice(models.TextChoices):
    SELF = "self", _("Informera elle-même sa parentèle")
    DOCTOR = "doctor", _("Demande au médecin d'informer sa parentèle")
    NOT_ASKED = "not_asked", _("Question non posée")


class PersonStatus(models.TextChoices):
    ADULT = "adult", _("Majeur·e")
    MINOR = "minor", _("Mineur·e (ou fœtus)")
    PROTECTED_ADULT = "protected_adult", _("Majeur·e protégé·e")
    DECEASED = "deceased", _("Personne décédée")


class Agreement(models.TextChoices):
    GIVEN = "given", _("A donné son accord")
    REFUSED = "refused", _("A refusé")
    UNABLE = "unable", _("N'est pas en mesure d'exprimer sa volonté")
    NOT_APPLICABLE = "not_applicable", _("Sans objet")


class CollectorKind(models.TextChoices):
    PRESCRIBER = "prescriber", _("Prescripteur")
    GENETIC_COUNSELLOR = "genetic_counsellor", _("Conseiller·ère en génétique")
    ASSISTANT = "assistant", _("Assistant·e de prescription")


def scan_path(instance: ConsentRecord, filename: str) -> str:
    # Never the uploaded name (it may carry the patient's name).
    extension = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}[
        instance.scan_content_type
    ]
    return f"consents/{instance.person.dossier.reference}/{instance.person_id}-{instance.scan_sha256[:16]}{extension}"


class ConsentRecord(models.Model):
    """The signed consent of one person of a dossier who will be sequenced."""

    person = models.OneToOneField(
        "prescriptions.DossierPerson",
        verbose_name=_("personne"),
        on_delete=models.CASCADE,
        related_name="consent",
    )
    template_version = models.ForeignKey(
        ConsentTemplateVersion,
        verbose_name=_("modèle de formulaire (version)"),
        on_delete=models.PROTECT,
        related_name="records",
    )
    person_status = models.CharField(
        _("situation de la personne"), max_length=20, choices=PersonStatus.choices
    )
    signed_by_person = models.BooleanField(_("signé par la personne elle-même"), default=False)
    parent_signatory_1 = models.CharField(_("titulaire de l'autorité parentale"), max_length=200, blank=True)
    parent_signatory_2 = models.CharField(
        _("second titulaire de l'autorité parentale"), max_length=200, blank=True
    )
    legal_representative = models.CharField(_("représentant légal"), max_length=200, blank=True)
    relative_signatory = models.CharField(_("proche signataire"), max_length=200, blank=True)
    person_agreement = models.CharField(
        _("accord de la personne elle-même"),
        max_length=20,
        choices=Agreement.choices,
        default=Agreement.NOT_APPLICABLE,
    )
    analysis_accepted = models.BooleanField(_("accepte l'analyse pour l'indication"))
    additional_findings = models.CharField(
        _("données additionnelles"), max_length=10, choices=Choice3.choices
    )
    research_reuse = models.CharField(
        _("réutilisation pour la recherche (CAD)"), max_length=10, choices=ResearchChoice.choices
    )
    relatives_information = models.CharField(
        _("information de la parentèle"), max_length=10, choices=RelativesChoice.choices
    )
    signed_on = models.DateField(_("signé le"))
    collector_kind = models.CharField(
        _("recueilli par (fonction)"), max_length=20, choices=CollectorKind.choices
    )
    collected_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recueilli par"),
        on_delete=models.PROTECT,
        related_name="consents_collected",
    )
    supervising_geneticist = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sous la responsabilité de"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    scan = models.FileField(_("formulaire signé numérisé"), upload_to=scan_path)
    scan_content_type = models.CharField(_("type"), max_length=30)
    scan_sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("enregistré le"), default=timezone.now)

    class Meta:
        verbose_name = _("consentement")
        verbose_name_plural = _("consentements")
        permissions = [("export_research", _("Exporter les données vers le collecteur analyseur de données"))]
        constraints = [
            models.CheckConstraint(
                condition=~Q(collector_kind="genetic_counsellor") | Q(supervising_geneticist__isnull=False),
                name="consent_counsellor_names_geneticist",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} — {self.signed_on:%d/%m/%Y}"

    def _withdrawn(self, *scopes: str) -> bool:
        return any(w.scope in scopes for w in self.withdrawals.all())

    @property
    def fully_withdrawn(self) -> bool:
        return self._withdrawn(Withdrawal.Scope.ALL)

    @property
    def accepts_analysis(self) -> bool:
        return self.analysis_accepted and not self.fully_withdrawn

    @property
    def effective_additional_findings(self) -> str:
        if self._withdrawn(Withdrawal.Scope.ALL, Withdrawal.Scope.ADDITIONAL_FINDINGS):
            return Choice3.NO
        return self.additional_findings

    @property
    def effective_research_reuse(self) -> str:
        if self._withdrawn(Withdrawal.Scope.ALL, Withdrawal.Scope.RESEARCH):
            return ResearchChoice.OBJECTS
        return self.research_reuse


class Withdrawal(models.Model):
    """A person withdraws all their consent, or one part of it; dated and recorded."""

    class Scope(models.TextChoices):
        ALL = "all", _("Retrait de l'ensemble du consentement")
        RESEARCH = "research", _("Opposition à la réutilisation pour la recherche")
        ADDITIONAL_FINDINGS = "additional_findings", _("Retrait du consentement aux données additionnelles")

    consent = models.ForeignKey(ConsentRecord, on_delete=models.CASCADE, related_name="withdrawals")
    scope = models.CharField(_("portée"), max_length=30, choices=Scope.choices)
    withdrawn_on = models.DateField(_("date du retrait"))
    reason = models.TextField(_("motif ou circonstances"), max_length=2000)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("enregistré le"), default=timezone.now)

    class Meta:
        ordering = ["consent", "withdrawn_on", "id"]
        verbose_name = _("retrait de consentement")
        verbose_name_plural = _("retraits de consentement")
        constraints = [
            models.UniqueConstraint(fields=["consent", "scope"], name="withdrawal_once_per_scope"),
        ]

    def __str__(self) -> str:
        return f"{self.get_scope_display()} — {self.withdrawn_on:%d/%m/%Y}"


class DataDeletion(models.Model):
    """A withdrawn dossier's data, due for deletion once the retention period
    (``CONSENT_WITHDRAWAL_RETENTION_DAYS``) has passed."""

    dossier = models.OneToOneField(
        "prescriptions.Dossier", on_delete=models.CASCADE, related_name="data_deletion"
    )
    requested_at = models.DateTimeField(_("demandée le"))
    due_on = models.DateField(_("à supprimer le"), db_index=True)
    purged_at = models.DateTimeField(_("purgée le"), null=True, blank=True)
    files_deleted = models.PositiveIntegerField(_("fichiers supprimés"), default=0)

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("suppression de données")
        verbose_name_plural = _("suppressions de données")

    def __str__(self) -> str:
        return f"{self.dossier} — {self.due_on:%d/%m/%Y}"
