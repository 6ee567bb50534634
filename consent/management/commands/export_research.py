import json

from django.core.management.base import BaseCommand

from consent.apis import export_rows
from consent.selectors import research_cohort
from pfmg import trail
from pfmg.db import replica_reads


class Command(BaseCommand):
    help = (
        "Export, pseudonymised, the persons whose data may go to the national data centre (CAD): never a person "
        "who objected to research reuse or withdrew their consent. One JSON object a line."
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", help="A file to write (standard output by default).")

    def handle(self, *args, **options):
        # Read from the replica when there is one (pfmg.db): an export tolerates a little replication lag.
        with replica_reads():
            rows = export_rows()
            exported = list(research_cohort().values_list("dossier_id", "patient_id"))
        trail.touched(
            source="command",
            action="export",
            name="export_research",
            dossier_ids=[d for d, _ in exported],
            patient_ids=[p for _, p in exported],
            detail={"records": len(rows), "output": "file" if options["output"] else "stdout"},
        )
        lines = "".join(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n" for row in rows)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as handle:
                handle.write(lines)
            self.stderr.write(f"{len(rows)} records written to {options['output']}.")
        else:
            self.stdout.write(lines, ending="")
