from django.core.management.base import BaseCommand

from consent import selectors, services
from pfmg import trail


class Command(BaseCommand):
    help = (
        "List the withdrawn dossiers whose retention period (CONSENT_WITHDRAWAL_RETENTION_DAYS) has passed and, "
        "with --purge, delete their stored files (documents, consent scans, rendered PDFs)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--purge", action="store_true", help="Delete the files (otherwise only list them)."
        )

    def handle(self, *args, **options):
        due = list(selectors.deletions_due())
        trail.touched(
            source="command",
            action="read" if not options["purge"] else "delete",
            name="purge_withdrawn_data",
            dossier_ids=[d.dossier_id for d in due],
            detail={"purge": bool(options["purge"]), "due": len(due)},
        )
        for deletion in due:
            self.stdout.write(f"{deletion.dossier.reference}\tdue {deletion.due_on:%Y-%m-%d}")
        if not options["purge"]:
            self.stdout.write(
                f"{len(due)} dossier(s) due for deletion (run with --purge to delete their files)."
            )
            return
        done = services.purge_due()
        files = sum(d.files_deleted for d in done)
        self.stdout.write(f"{len(done)} dossier(s) purged, {files} file(s) deleted.")
