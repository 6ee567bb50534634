"""Downloads of the PDFs rendered for a dossier."""

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404

from . import selectors
from .models import Dossier
from .pdf import current_prescription_summary_path
from .rules import identities_hidden


@login_required
def prescription_summary_pdf(request, pk: int):
    """The prescription summary of a submitted dossier, to whoever may see the dossier (404 to anyone else).

    Served from storage when a render made after the dossier's last activity exists; otherwise rendered now,
    by the same code as the ``render_prescription_summary`` task, so that a download never waits for a worker
    nor shows an outdated summary."""
    try:
        dossier = selectors.dossier_detail(request.user, pk)
    except Dossier.DoesNotExist:
        raise Http404 from None
    if dossier.status == Dossier.Status.DRAFT:
        raise Http404  # a draft is not a prescription yet
    if identities_hidden.test(request.user, dossier):
        raise Http404
    path = current_prescription_summary_path(dossier)
    response = FileResponse(
        default_storage.open(path, "rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=f"{dossier.reference}-bon-de-prescription.pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response
