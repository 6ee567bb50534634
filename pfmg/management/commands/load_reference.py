from django.core.management.base import BaseCommand

from ontology.services import load_hpo, load_orpha
from people.services import load_laboratories, load_places
from prescriptions.catalogue import DATA_FILE, import_file


class Command(BaseCommand):
    help = "Load the reference data shipped with the portal: places, laboratories and territories, catalogue."

    def handle(self, *args, **options):
        departments = load_places()
        territories = load_laboratories()
        result = import_file(DATA_FILE)
        self.stdout.write(
            f"Reference data: {departments} departments, {territories} new territories, pre-indications "
            f"{len(result.created)} created / {len(result.revised)} revised / {len(result.unchanged)} unchanged."
        )
        from consent.services import load_consent_templates  # the consent forms and information notices

        self.stdout.write(f"Consent forms and notices: {load_consent_templates()} versions created.")
        # Last: the slowest, and skipped when this release of HPO and ORPHA is already in the database.
        self.stdout.write(f"Ontologies: {load_hpo()}; {load_orpha()}.")
