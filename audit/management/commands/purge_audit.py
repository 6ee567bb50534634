from django.core.management.base import BaseCommand

from audit.services import purge, retention_days


class Command(BaseCommand):
    help = "Delete the audit entries older than AUDIT_RETENTION_DAYS, leaving a checkpoint the chain verifies from."

    def handle(self, *args, **options):
        checkpoint = purge()
        if checkpoint is None:
            self.stdout.write(f"Nothing older than {retention_days()} days.")
        else:
            self.stdout.write(
                f"{checkpoint.deleted} entries deleted (up to #{checkpoint.last_seq}); the chain now starts after it."
            )
