"""People and organisations: users and their roles, places, establishments, laboratories, RCP-FMG bodies.

Every other app depends on this one; it depends on none of them.
"""

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Cast
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    """The roles a user may hold. Each is a Django group (created by a migration) carrying model permissions;
    the scope of a role (which RCP, which laboratory, which prescribers) lives in the membership models."""

    PRESCRIBER = "prescriber", _("Prescripteur")
    PRESCRIPTION_ASSISTANT = "prescription_assistant", _("Assistant·e de prescription")
    GENETIC_COUNSELLOR = "genetic_counsellor", _("Conseiller·ère en génétique")
    RCP_MEMBER = "rcp_member", _("Membre de RCP-FMG")
    LABORATORY_STAFF = "laboratory_staff", _("Personnel de laboratoire")
    BIOLOGIST = "biologist", _("Biologiste")
    NATIONAL_COORDINATION = "national_coordination", _("Coordination nationale")
    ADMINISTRATOR = "administrator", _("Administrateur")
    # The data protection officer's role: reads the audit trail, never a dossier.
    AUDITOR = "auditor", _("Auditeur·rice (DPO)")


class User(AbstractUser):
    rpps = models.CharField(
        _("numéro RPPS"),
        max_length=11,
        blank=True,
        validators=[RegexValidator(r"^\d{11}$", _("Le numéro RPPS compte 11 chiffres."))],
        help_text=_("Répertoire partagé des professionnels de santé (prescripteurs)."),
    )
    # A laboratory's system (its LIMS) calling the API with a token: no password, no login, no admin, laboratory
    # actions only (``prescriptions.rules.is_machine_account``). Created by ``services.create_machine_account``.
    is_machine_account = models.BooleanField(
        _("compte machine"),
        default=False,
        editable=False,
        help_text=_("Le système d'un laboratoire, qui n'appelle l'API qu'avec un jeton."),
    )
    establishment = models.ForeignKey(
        "people.Establishment",
        verbose_name=_("établissement"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
    )

    class Meta:
        verbose_name = _("utilisateur")
        verbose_name_plural = _("utilisateurs")
        constraints = [
            models.UniqueConstraint(fields=["rpps"], condition=~Q(rpps=""), name="user_rpps_unique"),
            # Whatever the admin or a shell does: a machine account has no usable password (Django's unusable
            # ones begin with "!"), is never staff nor superuser, and has no RPPS (so no Pro Santé Connect).
            models.CheckConstraint(
                condition=Q(is_machine_account=False)
                | Q(password__startswith="!", is_staff=False, is_superuser=False, rpps=""),  # noqa: S106
                name="machine_account_cannot_log_in",
            ),
        ]

    def __str__(self) -> str:
        full = self.get_full_name()
        return full or self.username

    @cached_property
    def role_names(self) -> frozenset[str]:
        # One query per user object, however many checks a page makes (none more when the memberships are).
        if (memo := self._memo()) is not None:
            return frozenset(memo["role"])
        return frozenset(group.name for group in self.groups.all())

    def _memo(self) -> dict | None:
        """The memberships read once (``load_memberships``): already read, or read now for a user object that
        lives one request (``memoise_memberships``, set by people.middleware), or None: ask the database."""
        memo = self.__dict__.get("_memberships")
        if memo is None and self.__dict__.get("memoise_memberships"):
            self.load_memberships()
            memo = self._memberships
        return memo

    def has_role(self, role: str) -> bool:
        if self.is_machine_account and role != Role.LABORATORY_STAFF:
            # Whatever groups the admin gives it, a machine account is its laboratory's staff and nothing more.
            return False
        return role in self.role_names

    def load_memberships(self) -> None:
        """``read_memberships`` kept on this object, for a page that asks the rules many times (the dossier page).
        Only who calls it gets the memo: a user object kept across changes of membership (a test, a task) keeps
        asking the database."""
        self._memberships = self.read_memberships()
        self.__dict__.setdefault("role_names", frozenset(self._memberships["role"]))

    def read_memberships(self) -> dict[str, dict]:
        """The user's roles, RCP and laboratory memberships (with their functions), the prescribers they assist
        and the assignments assisting them, in one query."""
        kind = models.CharField()
        rows = (
            self.groups.annotate(k=models.Value("role", kind), v=models.F("name"), f=models.Value("", kind))
            .values_list("k", "v", "f")
            .union(
                RcpMembership.objects.filter(user=self)
                .annotate(k=models.Value("rcp", kind), v=Cast("rcp_id", kind))
                .values_list("k", "v", "function"),
                LaboratoryMembership.objects.filter(user=self)
                .annotate(k=models.Value("lab", kind), v=Cast("laboratory_id", kind))
                .values_list("k", "v", "function"),
                AssistantAssignment.prescribers.through.objects.filter(assistantassignment__assistant=self)
                .annotate(k=models.Value("assists", kind), v=Cast("user_id", kind), f=models.Value("", kind))
                .values_list("k", "v", "f"),
                AssistantAssignment.prescribers.through.objects.filter(user=self)
                .annotate(
                    k=models.Value("assisted_by", kind),
                    v=Cast("assistantassignment_id", kind),
                    f=models.Value("", kind),
                )
                .values_list("k", "v", "f"),
                all=True,
            )
        )
        found: dict[str, dict] = {"role": {}, "rcp": {}, "lab": {}, "assists": {}, "assisted_by": {}}
        for k, v, f in rows:
            found[k][v if k == "role" else int(v)] = f
        return found

    def rcp_function(self, rcp_id: int | None) -> str | None:
        """The user's function in RCP ``rcp_id`` (coordinator, deputy, member), or None."""
        if rcp_id is None:
            return None
        if (memo := self._memo()) is not None:
            return memo["rcp"].get(rcp_id)
        return (
            RcpMembership.objects.filter(user=self, rcp_id=rcp_id).values_list("function", flat=True).first()
        )

    def laboratory_function(self, laboratory_id: int | None) -> str | None:
        """The user's function in laboratory ``laboratory_id`` (staff, biologist), or None."""
        if laboratory_id is None:
            return None
        if (memo := self._memo()) is not None:
            return memo["lab"].get(laboratory_id)
        return (
            LaboratoryMembership.objects.filter(user=self, laboratory_id=laboratory_id)
            .values_list("function", flat=True)
            .first()
        )

    def assists(self, prescriber_id: int | None) -> bool:
        """The user is a prescription assistant of prescriber ``prescriber_id``."""
        if (memo := self._memo()) is not None:
            return prescriber_id in memo["assists"]
        return AssistantAssignment.objects.filter(assistant=self, prescribers=prescriber_id).exists()


class Region(models.Model):
    code = models.CharField(_("code INSEE"), max_length=3, unique=True)
    name = models.CharField(_("nom"), max_length=100, unique=True)
    overseas = models.BooleanField(_("outre-mer"), default=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("région")
        verbose_name_plural = _("régions")

    def __str__(self) -> str:
        return self.name


class Department(models.Model):
    code = models.CharField(_("code"), max_length=3, unique=True)
    name = models.CharField(_("nom"), max_length=100)
    region = models.ForeignKey(Region, on_delete=models.PROTECT, related_name="departments")

    class Meta:
        ordering = ["code"]
        verbose_name = _("département")
        verbose_name_plural = _("départements")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Establishment(models.Model):
    class Kind(models.TextChoices):
        CHU = "chu", _("Centre hospitalier universitaire")
        CH = "ch", _("Centre hospitalier")
        CLCC = "clcc", _("Centre de lutte contre le cancer")
        PRIVATE = "private", _("Établissement privé")
        OTHER = "other", _("Autre")

    finess = models.CharField(
        _("numéro FINESS"),
        max_length=9,
        unique=True,
        validators=[RegexValidator(r"^[0-9]{2}[0-9AB][0-9]{6}$", _("Le numéro FINESS compte 9 caractères."))],
    )
    name = models.CharField(_("nom"), max_length=200)
    kind = models.CharField(_("type"), max_length=20, choices=Kind.choices, default=Kind.CHU)
    city = models.CharField(_("ville"), max_length=100)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="establishments")

    class Meta:
        ordering = ["name"]
        verbose_name = _("établissement")
        verbose_name_plural = _("établissements")

    def __str__(self) -> str:
        return f"{self.name} ({self.city})"


class ReferenceCentre(models.Model):
    """A rare-disease reference (CRMR) or competence (CCMR) centre, attached to an establishment."""

    class Kind(models.TextChoices):
        CRMR = "crmr", _("Centre de référence maladies rares")
        CCMR = "ccmr", _("Centre de compétence maladies rares")

    name = models.CharField(_("nom"), max_length=200)
    kind = models.CharField(_("type"), max_length=4, choices=Kind.choices)
    filiere = models.CharField(_("filière de santé"), max_length=100, blank=True)
    establishment = models.ForeignKey(
        Establishment, on_delete=models.PROTECT, related_name="reference_centres"
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("centre de référence ou de compétence")
        verbose_name_plural = _("centres de référence ou de compétence")
        constraints = [
            models.UniqueConstraint(fields=["name", "establishment"], name="reference_centre_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.name}"


class Laboratory(models.Model):
    """A very-high-throughput sequencing laboratory of the plan (LBM-FMG): AURAGEN or SeqOIA."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("nom"), max_length=100)
    city = models.CharField(_("ville"), max_length=100)
    eprescription_tool = models.CharField(_("outil de e-prescription"), max_length=50, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("laboratoire FMG")
        verbose_name_plural = _("laboratoires FMG")

    def __str__(self) -> str:
        return self.name


class Territory(models.Model):
    """Which laboratory serves a region. Admin-editable: no official table was found, and sources disagree
    for some regions (``disputed``)."""

    region = models.OneToOneField(Region, on_delete=models.PROTECT, related_name="territory")
    laboratory = models.ForeignKey(Laboratory, on_delete=models.PROTECT, related_name="territories")
    disputed = models.BooleanField(
        _("attribution discutée"),
        default=False,
        help_text=_("Les sources publiques divergent pour cette région."),
    )
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["region__name"]
        verbose_name = _("territoire")
        verbose_name_plural = _("territoires")

    def __str__(self) -> str:
        return f"{self.region} → {self.laboratory}"


class LaboratoryMembership(models.Model):
    class Function(models.TextChoices):
        STAFF = "staff", _("Personnel de laboratoire")
        BIOLOGIST = "biologist", _("Biologiste habilité·e")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="laboratory_memberships")
    laboratory = models.ForeignKey(Laboratory, on_delete=models.CASCADE, related_name="memberships")
    function = models.CharField(_("fonction"), max_length=20, choices=Function.choices)

    class Meta:
        verbose_name = _("membre d'un laboratoire")
        verbose_name_plural = _("membres des laboratoires")
        constraints = [
            models.UniqueConstraint(fields=["user", "laboratory"], name="laboratory_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.laboratory} ({self.get_function_display()})"


class RcpBody(models.Model):
    """An RCP-FMG (multidisciplinary meeting body) that may validate prescriptions."""

    class Scope(models.TextChoices):
        LOCAL = "local", _("Locale")
        INTERREGIONAL = "interregional", _("Interrégionale")
        NATIONAL = "national", _("Nationale")

    name = models.CharField(_("nom"), max_length=200, unique=True)
    city = models.CharField(_("ville"), max_length=100)
    establishment = models.ForeignKey(
        Establishment, on_delete=models.PROTECT, related_name="rcp_bodies", null=True, blank=True
    )
    scope = models.CharField(_("périmètre"), max_length=20, choices=Scope.choices, default=Scope.LOCAL)
    multi_theme_rare_disease = models.BooleanField(
        _("RCP-FMG-MR génomique (multi-thématique)"),
        default=False,
        help_text=_("Peut valider toute pré-indication maladies rares."),
    )
    wait_warning_days = models.PositiveIntegerField(
        _("alerte d'attente (jours)"),
        default=30,
        help_text=_("Délai d'attente au-delà duquel un dossier est signalé."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("RCP-FMG")
        verbose_name_plural = _("RCP-FMG")

    def __str__(self) -> str:
        return self.name


class RcpMembership(models.Model):
    class Function(models.TextChoices):
        COORDINATOR = "coordinator", _("Coordinateur·rice")
        DEPUTY = "deputy", _("Suppléant·e")
        MEMBER = "member", _("Membre")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="rcp_memberships")
    rcp = models.ForeignKey(RcpBody, on_delete=models.CASCADE, related_name="memberships")
    function = models.CharField(_("fonction"), max_length=20, choices=Function.choices)

    class Meta:
        verbose_name = _("membre d'une RCP-FMG")
        verbose_name_plural = _("membres des RCP-FMG")
        constraints = [models.UniqueConstraint(fields=["user", "rcp"], name="rcp_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} — {self.rcp} ({self.get_function_display()})"


class AssistantAssignment(models.Model):
    """A prescription assistant's perimeter: the sites they work on, the departments they cover and the
    prescribers they assist."""

    assistant = models.OneToOneField(User, on_delete=models.CASCADE, related_name="assistant_assignment")
    sites = models.ManyToManyField(
        Establishment, verbose_name=_("sites"), related_name="assistants", blank=True
    )
    departments = models.ManyToManyField(
        Department, verbose_name=_("périmètre géographique"), related_name="assistants", blank=True
    )
    prescribers = models.ManyToManyField(
        User, verbose_name=_("prescripteurs assistés"), related_name="assisted_by", blank=True
    )

    class Meta:
        verbose_name = _("périmètre d'assistant·e de prescription")
        verbose_name_plural = _("périmètres d'assistant·e·s de prescription")

    def __str__(self) -> str:
        return str(self.assistant)


class CounsellorSupervision(models.Model):
    """A genetic counsellor holds consent consultations under a named geneticist's responsibility."""

    counsellor = models.OneToOneField(User, on_delete=models.CASCADE, related_name="supervision")
    geneticist = models.ForeignKey(User, on_delete=models.PROTECT, related_name="supervised_counsellors")

    class Meta:
        verbose_name = _("supervision de conseiller·ère en génétique")
        verbose_name_plural = _("supervisions de conseiller·ère·s en génétique")
        constraints = [
            models.CheckConstraint(
                condition=~Q(counsellor=models.F("geneticist")), name="counsellor_not_own_geneticist"
            )
        ]

    def __str__(self) -> str:
        return f"{self.counsellor} ← {self.geneticist}"


class ApiTokenQuerySet(models.QuerySet):
    def usable(self):
        from django.utils import timezone

        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())


class ApiToken(models.Model):
    """A bearer token of the API. Only its SHA-256 is kept: the clear token is shown once, when issued; the
    prefix lets a user and an administrator tell tokens apart. Issued and revoked by ``people.services``."""

    user = models.ForeignKey(
        User, verbose_name=_("utilisateur"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    prefix = models.CharField(_("préfixe"), max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expire le"))
    revoked_at = models.DateTimeField(_("révoqué le"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("dernière utilisation"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = _("jeton d’API")
        verbose_name_plural = _("jetons d’API")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class IdempotentRequest(models.Model):
    """A POST to the API sent with an ``Idempotency-Key``: the answer it got, replayed to a retry of the same
    request by the same client instead of acting twice (``people.idempotency``). ``client`` is a hash of the
    credentials (token or session), never the credentials themselves."""

    client = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    body_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    content_type = models.CharField(max_length=100, blank=True)
    content = models.BinaryField(default=bytes)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name = _("requête idempotente")
        verbose_name_plural = _("requêtes idempotentes")
        constraints = [models.UniqueConstraint(fields=["client", "key"], name="idempotent_request_unique")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.key})"
