"""``manage.py verify_report FILE``: whether a report PDF's PAdES signature is valid, intact and trusted."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from labs.signing import verify_pdf


class Command(BaseCommand):
    help = (
        "Checks the PAdES signature of a report PDF: intact, valid, covering the whole file, and chaining to "
        "a trusted laboratory root (REPORT_SIGNING_TRUST_ROOTS). Exit status 0 if so, 1 with the reason if not."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The PDF to check.")

    def handle(self, *args, file, **options):
        try:
            data = Path(file).read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}") from exc
        result = verify_pdf(data)
        self.stdout.write(f"SHA-256: {result.sha256}")
        if result.signed:
            self.stdout.write(f"Signing certificate: {result.subject or '?'}")
            if result.signer_name:
                self.stdout.write(f"Signed by: {result.signer_name}")
            if result.signed_at:
                self.stdout.write(f"Signed at: {timezone.localtime(result.signed_at).isoformat()}")
            if result.timestamped_at:
                self.stdout.write(f"Timestamp: {timezone.localtime(result.timestamped_at).isoformat()}")
        if not result.ok:
            raise CommandError("; ".join(str(p) for p in result.problems) or "invalid signature")
        self.stdout.write(self.style.SUCCESS("Valid signature, intact file, trusted laboratory certificate."))
