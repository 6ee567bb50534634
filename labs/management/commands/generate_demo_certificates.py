"""``manage.py generate_demo_certificates``: the demo's signing certificates (DEMO_MODE only)."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from labs.certificates import generate_demo_certificates
from people.models import Laboratory


class Command(BaseCommand):
    help = (
        "Writes a demo root CA, one signing certificate per laboratory (<code>.p12) and a timestamping "
        "certificate under REPORT_SIGNING_DIR (or --directory); keeps those still valid. DEMO_MODE only."
    )

    def add_arguments(self, parser):
        parser.add_argument("--directory", help="Where to write them (default: REPORT_SIGNING_DIR).")

    def handle(self, *args, directory=None, **options):
        if not settings.DEMO_MODE:
            raise CommandError(
                "Demo certificates are for DEMO_MODE only: give each laboratory its real certificate "
                "in REPORT_SIGNING_DIR."
            )
        target = Path(directory or settings.REPORT_SIGNING_DIR)
        written = generate_demo_certificates(
            target, Laboratory.objects.order_by("code"), settings.REPORT_SIGNING_PASSWORD
        )
        if written:
            self.stdout.write(f"Demo signing certificates written in {target}: {', '.join(written)}")
        else:
            self.stdout.write(f"Demo signing certificates in {target} are up to date.")
