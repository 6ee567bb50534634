"""The audit trail: one append-only table of accesses to patient data, chained by SHA-256.

The database itself refuses UPDATE and DELETE on entries (triggers installed by migration 0002); the only
deletion it lets through is the retention purge, for rows older than a floor it checks itself. Each entry's
hash covers its content and the previous entry's hash, so a removed or altered entry breaks the chain and
``manage.py verify_audit`` names it."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

GENESIS_HASH = "0" * 64


class Source(models.TextChoices):
    WEB = "web", _("Portail")
    API = "api", _("API")
    ADMIN = "admin", _("Administration")
    COMMAND = "command", _("Commande")
    TASK = "task", _("Tâche planifiée")


class Action(models.TextChoices):
    READ = "read", _("Lecture")
    WRITE = "write", _("Écriture")
    DOWNLOAD = "download", _("Téléchargement")
    EXPORT = "export", _("Export")
    DELETE = "delete", _("Suppression")
    ADMIN_VIEW = "admin_view", _("Administration : consultation")
    ADMIN_CHANGE = "admin_change", _("Administration : requête de modification")
    ADMIN_ADD = "admin_add", _("Administration : ajout")
    ADMIN_EDIT = "admin_edit", _("Administration : modification (avant/après)")
    ADMIN_DELETE = "admin_delete", _("Administration : suppression")
    ADMIN_M2M = "admin_m2m", _("Administration : liens modifiés")
    DENIED = "denied", _("Accès refusé")


class AuditEntry(models.Model):
    seq = models.BigIntegerField(_("n° dans la chaîne"), unique=True, editable=False)
    at = models.DateTimeField(_("date"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("utilisateur"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,  # the trail outlives accounts; the username snapshot says who it was
        null=True,
        blank=True,
        related_name="+",
    )
    actor_username = models.CharField(_("identifiant (à la date)"), max_length=150, blank=True)
    source = models.CharField(_("origine"), max_length=10, choices=Source.choices)
    ip = models.CharField(_("adresse IP"), max_length=45, blank=True)
    user_agent = models.CharField(_("navigateur"), max_length=200, blank=True)
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    url_name = models.CharField(_("nom de route"), max_length=120, blank=True)
    path = models.CharField(_("chemin"), max_length=500, blank=True)
    method = models.CharField(_("méthode"), max_length=10, blank=True)
    status_code = models.PositiveSmallIntegerField(_("statut HTTP"), null=True, blank=True)
    object_type = models.CharField(_("type d'objet"), max_length=80, blank=True)
    object_id = models.CharField(_("id de l'objet"), max_length=64, blank=True)
    dossier_reference = models.CharField(_("dossier"), max_length=20, blank=True, db_index=True)
    # ",12,34," : ids of the Patient rows concerned; the delimiters make `contains=",12,"` exact on every
    # database (identities are joined at query time, never copied here).
    patient_ids = models.TextField(_("patients (ids)"), blank=True)
    detail = models.JSONField(_("détail"), default=dict, blank=True)
    prev_hash = models.CharField(max_length=64, editable=False)
    hash = models.CharField(max_length=64, editable=False)

    class Meta:
        ordering = ["-seq"]
        verbose_name = _("entrée de traçabilité")
        verbose_name_plural = _("traçabilité des accès")
        indexes = [
            models.Index(fields=["actor", "at"], name="audit_actor_at"),
            # The admin's changelist, newest first: searched by a username (exact) or filtered by an action,
            # its page and its bounded count read one index range instead of the whole trail.
            models.Index(fields=["actor_username", "seq"], name="audit_username_seq"),
            models.Index(fields=["action", "seq"], name="audit_action_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.at:%Y-%m-%d %H:%M:%S} {self.actor_username or '-'} {self.action}"

    @property
    def patient_id_list(self) -> list[int]:
        return [int(x) for x in self.patient_ids.strip(",").split(",") if x]


class ChainHead(models.Model):
    """One row: the last entry's number and hash. Updating it first serialises appends (one chain, no fork)."""

    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        verbose_name = _("tête de chaîne")

    def __str__(self) -> str:
        return f"#{self.seq}"


class Checkpoint(models.Model):
    """Left by each retention purge: the last purged entry, from which the remaining chain is verified.

    Append-only too (the same triggers)."""

    at = models.DateTimeField(_("date"), auto_now_add=True)
    purged_before = models.DateTimeField(_("entrées antérieures au"))
    last_seq = models.BigIntegerField(_("dernière entrée purgée (n°)"))
    last_hash = models.CharField(_("son empreinte"), max_length=64)
    deleted = models.PositiveIntegerField(_("entrées supprimées"))

    class Meta:
        ordering = ["-last_seq"]
        verbose_name = _("point de reprise de la chaîne")

    def __str__(self) -> str:
        return f"#{self.last_seq}"
