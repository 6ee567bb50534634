"""Laboratory-side writes on a dossier."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from people.models import Laboratory, Territory, User
from prescriptions.models import Dossier, DossierEvent


class RoutingError(ValueError):
    pass


def laboratory_for(dossier: Dossier) -> Laboratory:
    """The laboratory serving the prescribing establishment's region (the admin-editable territory table)."""
    region = dossier.establishment.department.region
    try:
        return Territory.objects.select_related("laboratory").get(region=region).laboratory
    except Territory.DoesNotExist:
        raise RoutingError(
            _("Aucun laboratoire n'est attribué à la région %(region)s : complétez la table des territoires.")
            % {"region": region.name}
        ) from None


@transaction.atomic
def route_dossier(
    *,
    dossier: Dossier,
    actor: User | None,
    laboratory: Laboratory | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> Laboratory:
    """Assign the dossier's laboratory: by territory, or ``laboratory`` as an override (reason required)."""
    if laboratory is not None and not reason.strip():
        raise RoutingError(_("Un motif est obligatoire pour orienter un dossier hors de son territoire."))
    lab = laboratory or laboratory_for(dossier)
    now = at or timezone.now()
    dossier.laboratory = lab
    dossier.updated_at = now
    dossier.save(update_fields=["laboratory", "updated_at"])
    DossierEvent.objects.create(
        dossier=dossier,
        kind=DossierEvent.Kind.ROUTED,
        actor=actor,
        at=now,
        reason=reason.strip() or _("Orienté vers %(lab)s selon le territoire.") % {"lab": lab.name},
    )
    return lab
