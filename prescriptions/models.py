"""The pre-indication catalogue, patients, and the Dossier aggregate with its state machine."""

from __future__ import annotations

import threading

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from . import conditions as cond
from .rules import transition_permission

_FSM_REFRESH_LOCK = threading.RLock()


class Category(models.TextChoices):
    RARE_DISEASE = "rare_disease", _("Maladies rares")
    ONCOGENETICS = "oncogenetics", _("Oncogénétique")
    CANCER = "cancer", _("Cancers")


class SampleType(models.TextChoices):
    BLOOD_EDTA = "blood_edta", _("Sang (EDTA)")
    DNA = "dna", _("ADN")
    DNA_FIBROBLASTS = "dna_fibroblasts", _("ADN de fibroblastes en culture")
    FROZEN_TUMOUR = "frozen_tumour", _("Tumeur congelée")
    FFPE = "ffpe", _("Tissu fixé inclus en paraffine (FFPE)")


class FamilyStructure(models.TextChoices):
    SOLO = "solo", _("Solo (cas index seul)")
    DUO = "duo", _("Duo")
    TRIO = "trio", _("Trio")
    EXTENDED = "extended", _("Famille élargie (plus de trois)")


class TrioException(models.TextChoices):
    ADOPTED_CHILD = "adopted_child", _("Enfant adopté")
    DECEASED_PARENT = "deceased_parent", _("Parent décédé")
    SINGLE_PARENT = "single_parent", _("Famille monoparentale")
    PARENT_UNAVAILABLE = "parent_unavailable", _("Parent non disponible")


class OnsetAge(models.TextChoices):
    """HPO onset categories (HP:0003674 and children)."""

    ANTENATAL = "antenatal", _("Anténatal")
    CONGENITAL = "congenital", _("Congénital (à la naissance)")
    NEONATAL = "neonatal", _("Néonatal (< 28 jours)")
    INFANTILE = "infantile", _("Première année")
    CHILDHOOD = "childhood", _("Enfance (1-5 ans)")
    JUVENILE = "juvenile", _("Juvénile (5-15 ans)")
    ADULT = "adult", _("Adulte (≥ 16 ans)")


class PreIndication(models.Model):
    """The stable identity of a pre-indication. What it says lives in its versions."""

    slug = models.SlugField(_("identifiant"), max_length=100, unique=True)
    category = models.CharField(_("catégorie"), max_length=20, choices=Category.choices)
    rcp_bodies = models.ManyToManyField(
        "people.RcpBody",
        verbose_name=_("RCP-FMG pouvant valider"),
        related_name="pre_indications",
        blank=True,
    )

    class Meta:
        ordering = ["slug"]
        verbose_name = _("pré-indication")
        verbose_name_plural = _("pré-indications")

    def __str__(self) -> str:
        current = self.current_version()
        return current.name if current else self.slug

    def current_version(self, on=None) -> PreIndicationVersion | None:
        day = on or timezone.localdate()
        return (
            self.versions.filter(effective_from__lte=day)
            .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=day))
            .order_by("-number")
            .first()
        )


class PreIndicationVersion(models.Model):
    """One version of a pre-indication's fiche pratique. Immutable once written: a change is a new version."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        EXTENDED = "extended", _("Étendue")
        MERGED = "merged", _("Fusionnée")
        RETIRED = "retired", _("Retirée")

    pre_indication = models.ForeignKey(PreIndication, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("nom"), max_length=300)
    filiere = models.CharField(_("filière de santé"), max_length=100, blank=True)
    validation_year = models.PositiveSmallIntegerField(_("année de validation"), null=True, blank=True)
    status = models.CharField(_("statut"), max_length=20, choices=Status.choices, default=Status.ACTIVE)
    merged_into = models.ForeignKey(
        PreIndication,
        verbose_name=_("fusionnée dans"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_versions",
    )
    conditional = models.BooleanField(_("validation conditionnelle"), default=False)
    presentation = models.TextField(_("présentation"), blank=True)
    criteria = models.JSONField(_("critères avant RCP"), default=list, blank=True)
    genome_place = models.TextField(_("place du génome dans la stratégie diagnostique"), blank=True)
    family_structures = models.JSONField(_("structures familiales admises"), default=list)
    trio_mandatory = models.BooleanField(_("trio obligatoire"), default=False)
    trio_exceptions = models.JSONField(_("exceptions admises au trio"), default=list, blank=True)
    sample_types = models.JSONField(_("types de prélèvement admis"), default=list)
    sources = models.JSONField(_("sources"), default=list)
    effective_from = models.DateField(_("en vigueur du"))
    effective_to = models.DateField(_("en vigueur jusqu'au"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pre_indication__slug", "number"]
        verbose_name = _("version de pré-indication")
        verbose_name_plural = _("versions de pré-indication")
        constraints = [
            models.UniqueConstraint(
                fields=["pre_indication", "number"], name="pre_indication_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(effective_to__isnull=True) | Q(effective_to__gte=F("effective_from")),
                name="pre_indication_version_dates_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(status="merged") | Q(merged_into__isnull=False),
                name="pre_indication_merged_names_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.number})"

    def family_structure_labels(self) -> list[str]:
        return [str(FamilyStructure(v).label) for v in self.family_structures]

    def sample_type_labels(self) -> list[str]:
        return [str(SampleType(v).label) for v in self.sample_types]

    def trio_exception_labels(self) -> list[str]:
        return [str(TrioException(v).label) for v in self.trio_exceptions]

    @property
    def is_prescribable(self) -> bool:
        return self.status in (self.Status.ACTIVE, self.Status.EXTENDED)


class PreIndicationDocument(models.Model):
    """A document the fiche asks to attach at e-prescription."""

    version = models.ForeignKey(PreIndicationVersion, on_delete=models.CASCADE, related_name="documents")
    label = models.CharField(_("document"), max_length=200)
    required = models.BooleanField(
        _("obligatoire"), default=True, help_text=_("S'il manque, l'analyse ne sera pas réalisée.")
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["version", "position"]
        verbose_name = _("document à joindre")
        verbose_name_plural = _("documents à joindre")

    def __str__(self) -> str:
        return self.label


class Sex(models.TextChoices):
    FEMALE = "F", _("Féminin")
    MALE = "M", _("Masculin")
    UNKNOWN = "U", _("Indéterminé")


class Patient(models.Model):
    """A person's identity, reused across dossiers (a relative in one may be the index case of another)."""

    birth_name = models.CharField(_("nom de naissance"), max_length=100)
    used_name = models.CharField(_("nom d'usage"), max_length=100, blank=True)
    first_names = models.CharField(_("prénoms"), max_length=200)
    date_of_birth = models.DateField(_("date de naissance"), null=True, blank=True)
    sex = models.CharField(_("sexe"), max_length=1, choices=Sex.choices)
    ins = models.CharField(_("INS / NIR"), max_length=15, blank=True)
    is_fetus = models.BooleanField(_("fœtus"), default=False)
    is_deceased = models.BooleanField(_("décédé·e"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("patient")
        verbose_name_plural = _("patients")
        constraints = [
            models.UniqueConstraint(fields=["ins"], condition=~Q(ins=""), name="patient_ins_unique"),
            models.CheckConstraint(
                condition=Q(is_fetus=True) | Q(date_of_birth__isnull=False),
                name="patient_born_has_birth_date",
            ),
        ]
        indexes = [
            models.Index(fields=["birth_name", "date_of_birth"]),
            # Identity vigilance looks known patients up by their birth date and sex (selectors.known_patients).
            models.Index(fields=["date_of_birth", "sex"], name="patient_birth_date_sex_idx"),
        ]
        # The name search's trigram index is PostgreSQL's only: migration 0007 creates it.

    def __str__(self) -> str:
        return f"{self.birth_name.upper()} {self.first_names}"


# The dossier's columns a user's scope goes through (``selectors.DossierScope.branches``), with the short name
# of their home-list indexes.
SCOPE_COLUMNS = (
    ("prescriber", "presc"),
    ("entered_by", "entered"),
    ("rcp", "rcp"),
    ("laboratory", "lab"),
    ("establishment", "estab"),
)


class Dossier(ConcurrentTransitionMixin, models.Model):
    """The aggregate that travels from prescription to signed report.

    The status only moves through the transition methods below, called from ``services.transition_dossier``
    (which checks permission, conditions and writes the timeline entry in the same transaction)."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Brouillon")
        SUBMITTED = "submitted", _("Soumis à la RCP")
        MORE_INFO_REQUESTED = "more_info_requested", _("Complément demandé")
        RCP_REJECTED = "rcp_rejected", _("Non retenu en RCP")
        RCP_VALIDATED = "rcp_validated", _("Validé en RCP d'amont")
        FINALISED = "finalised", _("Prescription finalisée")
        SAMPLES_SHIPPED = "samples_shipped", _("Prélèvements expédiés")
        RECEIVED = "received", _("Dossier complet reçu")
        SEQUENCING = "sequencing", _("Séquençage en cours")
        ANALYSIS = "analysis", _("Analyse et interprétation")
        REPORT_SIGNED = "report_signed", _("Compte rendu signé")
        REPORT_DELIVERED = "report_delivered", _("Compte rendu transmis")
        CLOSED = "closed", _("Clôturé")
        CANCELLED = "cancelled", _("Annulé")
        WITHDRAWN = "withdrawn", _("Consentement retiré")

    S = Status
    FINAL_STATES = (S.RCP_REJECTED, S.CLOSED, S.CANCELLED, S.WITHDRAWN)
    CANCELLABLE_STATES = (
        S.DRAFT,
        S.SUBMITTED,
        S.MORE_INFO_REQUESTED,
        S.RCP_VALIDATED,
        S.FINALISED,
        S.SAMPLES_SHIPPED,
    )
    WITHDRAWABLE_STATES = (
        *CANCELLABLE_STATES,
        S.RECEIVED,
        S.SEQUENCING,
        S.ANALYSIS,
        S.REPORT_SIGNED,
        S.REPORT_DELIVERED,
    )

    reference = models.CharField(_("référence"), max_length=20, unique=True)
    pre_indication_version = models.ForeignKey(
        PreIndicationVersion,
        verbose_name=_("pré-indication (version)"),
        on_delete=models.PROTECT,
        related_name="dossiers",
    )
    prescriber = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("prescripteur"),
        on_delete=models.PROTECT,
        related_name="prescribed_dossiers",
        db_index=False,  # served by the scope indexes that lead with it (Meta.indexes)
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("saisi par"),
        on_delete=models.PROTECT,
        related_name="entered_dossiers",
        db_index=False,  # served by the scope indexes that lead with it (Meta.indexes)
    )
    establishment = models.ForeignKey(
        "people.Establishment",
        verbose_name=_("établissement"),
        on_delete=models.PROTECT,
        related_name="dossiers",
        db_index=False,  # served by the scope indexes that lead with it (Meta.indexes)
    )
    rcp = models.ForeignKey(
        "people.RcpBody",
        verbose_name=_("RCP-FMG"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dossiers",
        db_index=False,  # served by the scope indexes that lead with it (Meta.indexes)
    )
    laboratory = models.ForeignKey(
        "people.Laboratory",
        verbose_name=_("laboratoire"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dossiers",
        db_index=False,  # served by the scope indexes that lead with it (Meta.indexes)
    )
    # --- What the prescriber fills in while the dossier is a draft (or when the RCP asks for more). ---
    criteria_checklist = models.JSONField(
        _("critères de la fiche"),
        default=list,
        blank=True,
        help_text=_("[{criterion, met, justification}] : un critère non rempli est justifié."),
    )
    family_structure = models.CharField(
        _("structure familiale"), max_length=20, choices=FamilyStructure.choices, blank=True
    )
    trio_exception = models.CharField(
        _("exception au trio"), max_length=30, choices=TrioException.choices, blank=True
    )
    trio_exception_reason = models.TextField(_("justification de l'exception"), blank=True, max_length=1000)
    age_at_onset = models.CharField(_("âge de début"), max_length=20, choices=OnsetAge.choices, blank=True)
    clinical_summary = models.TextField(_("résumé clinique"), blank=True, max_length=5000)
    suspected_diagnosis = models.ForeignKey(
        "ontology.OrphaDisease",
        verbose_name=_("diagnostic suspecté (ORPHA)"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    steps_done = models.JSONField(_("étapes complétées"), default=list, blank=True)
    handed_over_at = models.DateTimeField(_("transmis au prescripteur le"), null=True, blank=True)
    attested_at = models.DateTimeField(_("attesté le"), null=True, blank=True)
    status = FSMField(
        _("statut"),
        max_length=30,
        choices=Status.choices,
        default=Status.DRAFT,
        protected=True,
        db_index=True,
    )
    created_at = models.DateTimeField(_("créé le"), default=timezone.now)
    # Time of the last activity on the dossier, set by the services (seeds replay past activity).
    updated_at = models.DateTimeField(_("dernière activité"), default=timezone.now, db_index=True)
    # When the dossier entered its current status, set with the status by the services: the queues (RCP,
    # laboratory) sort on it, oldest wait first, through an index instead of a MAX over the timeline.
    status_since = models.DateTimeField(_("au statut depuis"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("dossier")
        verbose_name_plural = _("dossiers")
        indexes = [
            models.Index(fields=["rcp", "status", "status_since"], name="dossier_rcp_queue_idx"),
            models.Index(fields=["laboratory", "status", "status_since"], name="dossier_lab_queue_idx"),
            # The home list, newest activity first (keyset on updated_at, id): one index per branch of a scope
            # (``selectors.DossierScope.branches``), with and without the status filter. They lead with the
            # foreign key, so they also serve its lookups: the foreign keys' own indexes are dropped.
            *(
                index
                for column, short in SCOPE_COLUMNS
                for index in (
                    models.Index(fields=[column, "updated_at", "id"], name=f"dossier_{short}_recent_idx"),
                    models.Index(
                        fields=[column, "status", "updated_at", "id"], name=f"dossier_{short}_st_recent_idx"
                    ),
                )
                if column != "entered_by"
            ),
            # Who entered a dossier sees it too; most prescribers enter their own, already in their prescriber
            # branch. The entered-by branch of a scope (``selectors.DossierScope.branches``) is therefore only the
            # dossiers entered for someone else (by an assistant), in partial indexes holding only those.
            models.Index(fields=["entered_by", "updated_at", "id"], name="dossier_entered_recent_idx"),
            models.Index(
                fields=["entered_by", "updated_at", "id"],
                condition=~Q(entered_by=models.F("prescriber")),
                name="dossier_entered_other_idx",
            ),
            models.Index(
                fields=["entered_by", "status", "updated_at", "id"],
                condition=~Q(entered_by=models.F("prescriber")),
                name="dossier_entered_other_st_idx",
            ),
            # A search by the beginning of a reference (LIKE 'PFMG-2026-00%'): the unique index's collation
            # does not serve LIKE on PostgreSQL; the pattern operators do (ignored elsewhere).
            models.Index(
                fields=["reference"], opclasses=["varchar_pattern_ops"], name="dossier_reference_like_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def refresh_from_db(self, *args, **kwargs) -> None:
        # django-fsm-2 lifts the protection of the status *field* (shared by every instance) while it refreshes
        # one instance: two threads refreshing at once would trip over each other. Serialise the refreshes.
        with _FSM_REFRESH_LOCK:
            super().refresh_from_db(*args, **kwargs)

    # --- The state machine. Bodies are empty on purpose: side effects belong to the services. ---

    @transition(
        field=status,
        source=[S.DRAFT, S.MORE_INFO_REQUESTED],
        target=S.SUBMITTED,
        conditions=[*cond.SUBMIT_CONTENT_CONDITIONS, cond.has_rcp, cond.rcp_may_validate, cond.attested],
        permission=transition_permission("submit"),
    )
    def submit(self) -> None:
        pass

    @transition(
        field=status,
        source=S.SUBMITTED,
        target=S.MORE_INFO_REQUESTED,
        conditions=[cond.requirements("request_more_info")],
        permission=transition_permission("request_more_info"),
    )
    def request_more_info(self) -> None:
        pass

    @transition(
        field=status,
        source=S.SUBMITTED,
        target=S.RCP_REJECTED,
        conditions=[cond.requirements("reject")],
        permission=transition_permission("reject"),
    )
    def reject(self) -> None:
        pass

    @transition(
        field=status,
        source=S.SUBMITTED,
        target=S.RCP_VALIDATED,
        conditions=[cond.requirements("validate")],
        permission=transition_permission("validate"),
    )
    def validate(self) -> None:
        pass

    @transition(
        field=status,
        source=S.RCP_VALIDATED,
        target=S.FINALISED,
        conditions=[cond.laboratory_assigned, cond.requirements("finalise")],
        permission=transition_permission("finalise"),
    )
    def finalise(self) -> None:
        pass

    @transition(
        field=status,
        source=S.FINALISED,
        target=S.SAMPLES_SHIPPED,
        conditions=[cond.requirements("ship_samples")],
        permission=transition_permission("ship_samples"),
    )
    def ship_samples(self) -> None:
        pass

    @transition(
        field=status,
        source=S.SAMPLES_SHIPPED,
        target=S.RECEIVED,
        conditions=[cond.requirements("receive")],
        permission=transition_permission("receive"),
    )
    def receive(self) -> None:
        pass

    @transition(
        field=status,
        source=S.SAMPLES_SHIPPED,
        target=S.FINALISED,
        conditions=[cond.requirements("reject_samples")],
        permission=transition_permission("reject_samples"),
    )
    def reject_samples(self) -> None:
        pass

    @transition(
        field=status,
        source=S.RECEIVED,
        target=S.SEQUENCING,
        conditions=[cond.requirements("start_sequencing")],
        permission=transition_permission("start_sequencing"),
    )
    def start_sequencing(self) -> None:
        pass

    @transition(
        field=status,
        source=S.SEQUENCING,
        target=S.ANALYSIS,
        conditions=[cond.requirements("start_analysis")],
        permission=transition_permission("start_analysis"),
    )
    def start_analysis(self) -> None:
        pass

    @transition(
        field=status,
        source=S.ANALYSIS,
        target=S.REPORT_SIGNED,
        conditions=[cond.requirements("sign_report")],
        permission=transition_permission("sign_report"),
    )
    def sign_report(self) -> None:
        pass

    @transition(
        field=status,
        source=S.REPORT_SIGNED,
        target=S.REPORT_DELIVERED,
        conditions=[cond.requirements("deliver_report")],
        permission=transition_permission("deliver_report"),
    )
    def deliver_report(self) -> None:
        pass

    @transition(
        field=status,
        source=S.REPORT_DELIVERED,
        target=S.CLOSED,
        conditions=[cond.requirements("close")],
        permission=transition_permission("close"),
    )
    def close(self) -> None:
        pass

    @transition(
        field=status,
        source=list(CANCELLABLE_STATES),
        target=S.CANCELLED,
        conditions=[cond.requirements("cancel")],
        permission=transition_permission("cancel"),
    )
    def cancel(self) -> None:
        pass

    @transition(
        field=status,
        source=list(WITHDRAWABLE_STATES),
        target=S.WITHDRAWN,
        conditions=[cond.requirements("withdraw")],
        permission=transition_permission("withdraw"),
    )
    def withdraw(self) -> None:
        pass


class DossierPerson(models.Model):
    """A person's place in a dossier: the index case or a relative."""

    class Relationship(models.TextChoices):
        INDEX = "index", _("Cas index")
        MOTHER = "mother", _("Mère")
        FATHER = "father", _("Père")
        SIBLING = "sibling", _("Frère ou sœur")
        CHILD = "child", _("Enfant")
        OTHER = "other", _("Autre apparenté·e")

    class Affected(models.TextChoices):
        AFFECTED = "affected", _("Atteint·e")
        UNAFFECTED = "unaffected", _("Non atteint·e")
        UNKNOWN = "unknown", _("Statut inconnu")

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="persons")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="dossier_roles")
    relationship = models.CharField(_("lien"), max_length=20, choices=Relationship.choices)
    affected = models.CharField(
        _("statut clinique"), max_length=20, choices=Affected.choices, default=Affected.UNKNOWN
    )
    to_be_sequenced = models.BooleanField(_("à séquencer"), default=True)

    class Meta:
        ordering = ["dossier", "id"]
        verbose_name = _("personne du dossier")
        verbose_name_plural = _("personnes du dossier")
        constraints = [
            models.UniqueConstraint(fields=["dossier", "patient"], name="dossier_person_unique"),
            models.UniqueConstraint(
                fields=["dossier"], condition=Q(relationship="index"), name="dossier_single_index_case"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_relationship_display()} — {self.patient}"


class DossierEvent(models.Model):
    """The dossier's timeline: one entry per transition (and, later, per other notable event).

    The source of every statistic: turnaround times are read from here, never from mutable fields."""

    class Kind(models.TextChoices):
        CREATED = "created", _("Création")
        TRANSITION = "transition", _("Changement de statut")
        ROUTED = "routed", _("Orientation vers un laboratoire")
        NOTE = "note", _("Note")

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.TRANSITION)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acteur"),
        on_delete=models.PROTECT,
        related_name="dossier_events",
        null=True,
        blank=True,
    )
    transition = models.CharField(_("transition"), max_length=40, blank=True)
    from_status = models.CharField(_("de"), max_length=30, choices=Dossier.Status.choices, blank=True)
    to_status = models.CharField(_("vers"), max_length=30, choices=Dossier.Status.choices, blank=True)
    at = models.DateTimeField(_("le"), db_index=True)
    reason = models.TextField(_("motif"), blank=True, max_length=10000)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("événement du dossier")
        verbose_name_plural = _("événements du dossier")
        indexes = [models.Index(fields=["dossier", "at"]), models.Index(fields=["to_status", "at"])]

    def __str__(self) -> str:
        what = self.transition or self.get_kind_display()
        return f"{timezone.localtime(self.at):%d/%m/%Y %H:%M} — {what}"


class DossierPhenotype(models.Model):
    """An HPO term observed (or explicitly absent) in the index case."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="phenotypes")
    term = models.ForeignKey("ontology.HpoTerm", verbose_name=_("terme HPO"), on_delete=models.PROTECT)
    present = models.BooleanField(_("présent"), default=True)

    class Meta:
        ordering = ["dossier", "-present", "term_id"]
        verbose_name = _("phénotype")
        verbose_name_plural = _("phénotypes")
        constraints = [models.UniqueConstraint(fields=["dossier", "term"], name="dossier_phenotype_unique")]

    def __str__(self) -> str:
        return f"{'+' if self.present else '−'} {self.term_id}"


class PriorTest(models.Model):
    class Kind(models.TextChoices):
        KARYOTYPE = "karyotype", _("Caryotype")
        ARRAY_CGH = "array_cgh", _("ACPA (puce à ADN / array-CGH)")
        FRAGILE_X = "fragile_x", _("X fragile")
        GENE_PANEL = "gene_panel", _("Panel de gènes (NGS)")
        EXOME = "exome", _("Exome")
        TARGETED = "targeted", _("Analyse ciblée d'un gène")
        OTHER = "other", _("Autre")

    class Result(models.TextChoices):
        NEGATIVE = "negative", _("Négatif / normal")
        POSITIVE = "positive", _("Positif / anomalie")
        UNCERTAIN = "uncertain", _("Variant de signification incertaine")
        PENDING = "pending", _("En attente")

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="prior_tests")
    kind = models.CharField(_("examen"), max_length=20, choices=Kind.choices)
    performed_on = models.DateField(_("date"), null=True, blank=True)
    result = models.CharField(_("résultat"), max_length=20, choices=Result.choices)
    details = models.CharField(_("précisions"), max_length=500, blank=True)

    class Meta:
        ordering = ["dossier", "performed_on", "id"]
        verbose_name = _("examen génétique antérieur")
        verbose_name_plural = _("examens génétiques antérieurs")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.get_result_display()}"


def document_path(instance: DossierDocument, filename: str) -> str:
    # The stored name never carries the uploaded name (which may hold a patient's name).
    return f"dossiers/{instance.dossier.reference}/{instance.sha256[:16]}{instance.extension}"


class DossierDocument(models.Model):
    """A medical or administrative document attached to the prescription."""

    class ContentType(models.TextChoices):
        PDF = "application/pdf", "PDF"
        JPEG = "image/jpeg", "JPEG"
        PNG = "image/png", "PNG"

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="documents")
    expected = models.ForeignKey(
        PreIndicationDocument,
        verbose_name=_("document attendu"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    label = models.CharField(_("intitulé"), max_length=200)
    file = models.FileField(_("fichier"), upload_to=document_path)
    original_name = models.CharField(_("nom d'origine"), max_length=255)
    content_type = models.CharField(_("type"), max_length=30, choices=ContentType.choices)
    size = models.PositiveIntegerField(_("taille (octets)"))
    sha256 = models.CharField(_("empreinte SHA-256"), max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(_("déposé le"), default=timezone.now)

    class Meta:
        ordering = ["dossier", "uploaded_at", "id"]
        verbose_name = _("document du dossier")
        verbose_name_plural = _("documents du dossier")

    def __str__(self) -> str:
        return self.label

    @property
    def extension(self) -> str:
        return {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}[self.content_type]


class ReferenceCounter(models.Model):
    """Per-year counter behind the human-readable references (PFMG-2026-000123)."""

    year = models.PositiveSmallIntegerField(primary_key=True)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("compteur de références")
        verbose_name_plural = _("compteurs de références")

    def __str__(self) -> str:
        return f"{self.year}: {self.last}"
