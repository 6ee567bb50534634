from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from pfmg.demo import DEMO_PASSWORD, DEMO_TOTP_USERS, seed_demo

ACCOUNTS = [
    ("prescriber", "prescripteur, CHU de démonstration Paris (territoire SeqOIA)"),
    ("prescriber2", "prescripteur, CHU de démonstration Lyon (territoire AURAGEN)"),
    ("assistant", "assistante de prescription de « prescriber »"),
    ("counsellor", "conseillère en génétique (Paris)"),
    ("coordinator", "coordinateur des RCP-FMG de démonstration"),
    ("lab_auragen", "personnel du laboratoire AURAGEN"),
    ("lab_seqoia", "personnel du laboratoire SeqOIA"),
    ("biologist_auragen", "biologiste habilitée AURAGEN"),
    ("biologist_seqoia", "biologiste habilité SeqOIA"),
    ("national", "coordination nationale (agrégats seulement)"),
    ("admin", "administrateur (/admin/)"),
    ("auditor", "délégué·e à la protection des données : la traçabilité dans /admin/, rien d'autre"),
]


class Command(BaseCommand):
    help = "Create the demo users (one per role) and dossiers in every status. Idempotent; demo mode only."

    def handle(self, *args, **options):
        if not settings.DEMO_MODE:
            raise CommandError(
                "seed_demo runs only in demo mode (DEMO_MODE=true): it creates shared passwords."
            )
        call_command("load_reference", verbosity=0)
        created = seed_demo()
        self.stdout.write(
            f"Demo data: {created} dossiers created." if created else "Demo data already present."
        )
        self.stdout.write(f"Demo accounts (password: {DEMO_PASSWORD}):")
        for username, what in ACCOUNTS:
            second = " [code à usage unique]" if username in DEMO_TOTP_USERS else ""
            self.stdout.write(f"  {username:<18} {what}{second}")
        self.stdout.write(
            "[code à usage unique]: after the password, the current code of the demo TOTP key "
            "(README), or `manage.py demo_totp USERNAME`."
        )
        self.stdout.write(
            "Machine accounts (no password, API only): machine_seqoia, machine_auragen; a token with "
            "`manage.py create_machine_account --laboratory seqoia` (printed once)."
        )
