from django.core.management.base import BaseCommand, CommandError

from people import services
from people.models import Laboratory


class Command(BaseCommand):
    help = (
        "Create a laboratory's machine account (if it does not exist) and print a new API token for it, once: "
        "only its hash is kept. --revoke revokes the account's tokens instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--laboratory", required=True, help="The laboratory's code (seqoia, auragen…).")
        parser.add_argument(
            "--revoke", action="store_true", help="Revoke every token of the account instead of issuing one."
        )

    def handle(self, *args, laboratory: str, revoke: bool, **options):
        lab = Laboratory.objects.filter(code=laboratory).first()
        if lab is None:
            codes = ", ".join(Laboratory.objects.order_by("code").values_list("code", flat=True))
            raise CommandError(f"Unknown laboratory {laboratory!r} (known: {codes or 'none'}).")
        if revoke:
            count = services.revoke_machine_tokens(laboratory=lab)
            self.stderr.write(f"{count} token(s) of {services.machine_username(lab)} revoked.")
            return
        token, clear = services.issue_machine_token(laboratory=lab)
        self.stderr.write(
            f"Machine account {token.user.username}: token {token.prefix}… valid until "
            f"{token.expires_at:%Y-%m-%d %H:%M} UTC. It is shown this once; send it as "
            f"'Authorization: Token <token>'."
        )
        self.stdout.write(clear)
