"""What an app tells the audit trail when it touches patient data outside a request (a command, a task).

The apps that hold patient data never import ``audit`` (dependencies point one way): they send this signal,
which ``audit`` receives and records. Requests need nothing of this: the audit middleware records them."""

from django.dispatch import Signal

# Sent with keyword arguments: source ("command" or "task"), action ("export", "delete", ...), name (the
# command or task), dossier_ids (Dossier ids, may be empty), patient_ids (Patient ids; by default every person
# of those dossiers), detail (a JSON-serialisable dict that holds no patient identity).
patient_data_accessed = Signal()


def touched(
    *, source: str, action: str, name: str, dossier_ids=(), patient_ids=None, detail: dict | None = None
) -> None:
    results = patient_data_accessed.send(
        sender=None,
        source=source,
        action=action,
        name=name,
        dossier_ids=sorted(set(dossier_ids)),
        patient_ids=None if patient_ids is None else sorted(set(patient_ids)),
        detail=detail or {},
    )
    if not results:
        # An access to patient data that nothing records is a failure of the trail, not a detail.
        raise RuntimeError("No audit trail is listening: add 'audit' to INSTALLED_APPS.")
