from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from pfmg.demo import DEMO_TOTP_KEY, demo_totp_code


class Command(BaseCommand):
    help = "Print the current TOTP code of a demo account (demo mode only)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        if not settings.DEMO_MODE:
            raise CommandError("demo_totp runs only in demo mode (DEMO_MODE=true).")
        # Only the documented demo key: a real user's secret is never printed.
        if not TOTPDevice.objects.filter(user__username=username, key=DEMO_TOTP_KEY, confirmed=True).exists():
            raise CommandError(
                f"{username} has no demo TOTP device (seed_demo gives one to the demo accounts)."
            )
        self.stdout.write(demo_totp_code())
