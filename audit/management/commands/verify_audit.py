from django.core.management.base import BaseCommand, CommandError

from audit.services import verify


class Command(BaseCommand):
    help = (
        "Verify the audit trail's hash chain from the last purge checkpoint; exit non-zero naming the first "
        "entry that is missing, altered or out of chain."
    )

    def handle(self, *args, **options):
        result = verify()
        if not result.ok:
            raise CommandError(f"Audit trail broken: {result.message}")
        self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {result.message}"))
