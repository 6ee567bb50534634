"""manage.py catalogue import FILE | catalogue export [--format yaml|csv] [--output FILE]"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from prescriptions.catalogue import CatalogueError, export_csv, export_yaml, import_file


class Command(BaseCommand):
    help = "Import or export the pre-indication catalogue (YAML or CSV). An import is all or nothing."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        imp = sub.add_parser("import", help="Create or revise pre-indications from a YAML or CSV file.")
        imp.add_argument("file", type=Path)
        exp = sub.add_parser("export", help="Write the current catalogue.")
        exp.add_argument("--format", choices=["yaml", "csv"], default="yaml")
        exp.add_argument("--output", type=Path, help="File to write (standard output by default).")

    def handle(self, *args, **options):
        if options["action"] == "import":
            path: Path = options["file"]
            if not path.is_file():
                raise CommandError(f"No such file: {path}")
            try:
                result = import_file(path)
            except CatalogueError as exc:
                raise CommandError("The catalogue was not changed:\n" + "\n".join(exc.errors)) from exc
            self.stdout.write(
                f"{len(result.created)} created, {len(result.revised)} revised, {len(result.unchanged)} unchanged"
            )
            return
        text = export_yaml() if options["format"] == "yaml" else export_csv()
        if options["output"]:
            options["output"].write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
