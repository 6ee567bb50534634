"""Samples, shipments, sequencing runs, analysis assignments and the signed reports (comptes rendus)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from prescriptions.models import Dossier, DossierPerson, SampleType


class Sample(models.Model):
    """One tube (or block) taken from a person to be sequenced, and the laboratory's check at reception."""

    class Check(models.TextChoices):
        PENDING = "pending", _("À contrôler")
        CONFORM = "conform", _("Conforme")
        NON_CONFORM = "non_conform", _("Non conforme")

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="samples")
    person = models.ForeignKey(
        DossierPerson, verbose_name=_("personne"), on_delete=models.PROTECT, related_name="samples"
    )
    sample_type = models.CharField(_("type de prélèvement"), max_length=20, choices=SampleType.choices)
    barcode = models.CharField(_("code-barres du tube"), max_length=40, unique=True)
    collected_on = models.DateField(_("date du prélèvement"))
    collected_by = models.CharField(_("préleveur"), max_length=150)
    shipment = models.ForeignKey(
        "Shipment",
        verbose_name=_("expédition"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="samples",
    )
    check_result = models.CharField(
        _("contrôle à réception"), max_length=20, choices=Check.choices, default=Check.PENDING
    )
    check_reason = models.TextField(_("motif de non-conformité"), blank=True, max_length=500)
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    checked_at = models.DateTimeField(_("contrôlé le"), null=True, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("enregistré le"), default=timezone.now)

    class Meta:
        ordering = ["dossier", "recorded_at", "id"]
        verbose_name = _("prélèvement")
        verbose_name_plural = _("prélèvements")
        constraints = [
            models.CheckConstraint(
                condition=~Q(check_result="non_conform") | ~Q(check_reason=""),
                name="non_conform_sample_has_a_reason",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.barcode} ({self.get_sample_type_display()})"

    @property
    def active(self) -> bool:
        return self.check_result != self.Check.NON_CONFORM


class Shipment(models.Model):
    """Samples sent together to the laboratory by the carrier."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="shipments")
    carrier = models.CharField(_("transporteur"), max_length=100)
    tracking_number = models.CharField(_("numéro de suivi"), max_length=60)
    pickup_date = models.DateField(_("date d'enlèvement"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("créée le"), default=timezone.now)
    # Set when the dossier's ``ship_samples`` transition declares it (the timeline holds the same moment).
    declared_at = models.DateTimeField(_("expédition déclarée le"), null=True, blank=True)

    class Meta:
        ordering = ["dossier", "created_at", "id"]
        verbose_name = _("expédition")
        verbose_name_plural = _("expéditions")

    def __str__(self) -> str:
        return f"{self.carrier} {self.tracking_number}"


class SequencingRun(models.Model):
    """The run the dossier's genomes were sequenced in, with its quality figures."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="sequencing_runs")
    # Indexed for the laboratory queue's search by run (exact or beginning; PostgreSQL adds a LIKE index).
    run_identifier = models.CharField(_("identifiant du run"), max_length=80, db_index=True)
    mean_coverage = models.DecimalField(_("profondeur moyenne (x)"), max_digits=6, decimal_places=1)
    pct_20x = models.DecimalField(
        _("part du génome couverte à 20x ou plus (%)"), max_digits=5, decimal_places=2
    )
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("enregistré le"), default=timezone.now)

    class Meta:
        ordering = ["dossier", "recorded_at", "id"]
        verbose_name = _("run de séquençage")
        verbose_name_plural = _("runs de séquençage")
        constraints = [
            models.CheckConstraint(condition=Q(mean_coverage__gte=0), name="run_coverage_positive"),
            models.CheckConstraint(condition=Q(pct_20x__gte=0, pct_20x__lte=100), name="run_pct_20x_range"),
        ]

    def __str__(self) -> str:
        return self.run_identifier


class AnalysisAssignment(models.Model):
    """Who interprets the dossier's genome (a member of its laboratory)."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="analysis_assignments")
    interpreter = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("interprète"), on_delete=models.PROTECT, related_name="+"
    )
    assigned_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField(_("désigné le"), default=timezone.now)

    class Meta:
        ordering = ["dossier", "assigned_at", "id"]
        verbose_name = _("interprétation")
        verbose_name_plural = _("interprétations")

    def __str__(self) -> str:
        return str(self.interpreter)


def report_path(instance: Report, filename: str) -> str:
    return f"reports/{instance.dossier.reference}/v{instance.version}-{instance.sha256[:16]}.pdf"


def signed_report_path(instance: Report, filename: str) -> str:
    # Beside the unsigned file, never over it: what was deposited or composed stays as it was.
    return f"reports/{instance.dossier.reference}/v{instance.version}-{instance.sha256[:16]}-signed.pdf"


def _sha256_of(name: str) -> str | None:
    try:
        with default_storage.open(name, "rb") as stored:
            digest = hashlib.sha256()
            for chunk in iter(lambda: stored.read(65536), b""):
                digest.update(chunk)
    except (FileNotFoundError, OSError):
        return None
    return digest.hexdigest()


class Report(models.Model):
    """A version of the dossier's compte rendu. Once signed it never changes: a correction is a new version
    (``amends`` the previous one, with its reason), and every version stays visible and downloadable."""

    class Source(models.TextChoices):
        UPLOADED = "uploaded", _("PDF déposé")
        COMPOSED = "composed", _("Rédigé dans le portail")

    class Conclusion(models.TextChoices):
        POSITIVE = "positive", _("Positif : variant(s) causal(aux) identifié(s)")
        NEGATIVE = "negative", _("Négatif : pas de variant causal identifié")
        UNCERTAIN = "uncertain", _("Incertain : variant(s) de signification incertaine")

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="reports")
    version = models.PositiveSmallIntegerField(_("version"))
    source = models.CharField(_("origine"), max_length=20, choices=Source.choices)
    conclusion = models.CharField(_("conclusion"), max_length=20, choices=Conclusion.choices, blank=True)
    variants = models.TextField(_("variants rapportés"), blank=True, max_length=10000)
    additional_findings = models.TextField(_("données additionnelles"), blank=True, max_length=5000)
    amends = models.OneToOneField(
        "self",
        verbose_name=_("rectifie"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="amended_by",
    )
    amendment_reason = models.TextField(_("motif de la rectification"), blank=True, max_length=1000)
    # Empty while a composed report is being laid out by the ``render_report`` task.
    file = models.FileField(_("fichier"), upload_to=report_path, blank=True)
    size = models.PositiveIntegerField(_("taille (octets)"), default=0)
    sha256 = models.CharField(_("empreinte SHA-256 du fichier"), max_length=64, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("créé le"), default=timezone.now)
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("signé par"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    signed_at = models.DateTimeField(_("signé le"), null=True, blank=True)
    signed_sha256 = models.CharField(_("empreinte SHA-256 signée"), max_length=64, blank=True)
    # The PDF with the laboratory's PAdES signature (``labs.signing``): what is served once signed. Empty for
    # reports signed before PAdES signatures, whose ``signed_sha256`` is that of ``file``.
    signed_file = models.FileField(_("fichier signé"), upload_to=signed_report_path, blank=True)
    signature_subject = models.CharField(_("certificat de signature"), max_length=500, blank=True)

    class Meta:
        ordering = ["dossier", "version"]
        verbose_name = _("compte rendu")
        verbose_name_plural = _("comptes rendus")
        constraints = [
            models.UniqueConstraint(fields=["dossier", "version"], name="report_version_unique"),
            models.CheckConstraint(
                condition=Q(signed_at__isnull=True) | (Q(signed_by__isnull=False) & ~Q(signed_sha256="")),
                name="signed_report_has_signer_and_hash",
            ),
            models.CheckConstraint(
                condition=Q(amends__isnull=True) | ~Q(amendment_reason=""), name="amended_report_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dossier.reference} v{self.version}"

    def save(self, *args, **kwargs) -> None:
        # The signed PDF and what was signed never change, whoever tries (services, admin, shell).
        if self.pk and Report.objects.filter(pk=self.pk, signed_at__isnull=False).exists():
            raise ValueError("A signed report is immutable: write an amended report instead.")
        super().save(*args, **kwargs)

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def document(self):
        """The file to serve: the PAdES-signed one once there is one, else the file as deposited or composed."""
        return self.signed_file or self.file

    def stored_sha256(self) -> str | None:
        """The SHA-256 of the file served (``document``) as stored now (None if the file is gone)."""
        document = self.document
        return _sha256_of(document.name) if document else None

    def intact(self) -> bool:
        """Whether the stored files are still the exact ones: the signed file against ``signed_sha256``, and
        the file as deposited or composed against ``sha256`` (against ``signed_sha256`` for a report signed
        before PAdES, when both were the same file)."""
        if not self.file:
            return False
        original = _sha256_of(self.file.name)
        if self.signed_file:
            return original == self.sha256 and _sha256_of(self.signed_file.name) == self.signed_sha256
        return original == (self.signed_sha256 or self.sha256)


class ReportDownload(models.Model):
    """Who downloaded which version of a report, and when."""

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="downloads")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("le"), default=timezone.now)

    class Meta:
        ordering = ["report", "at", "id"]
        verbose_name = _("téléchargement de compte rendu")
        verbose_name_plural = _("téléchargements de comptes rendus")

    def __str__(self) -> str:
        return f"{self.report} — {self.user}"
