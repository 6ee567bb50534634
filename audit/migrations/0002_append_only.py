"""The database refuses UPDATE and DELETE on the trail (audit.guard), and the chain starts."""

from django.db import migrations


def install(apps, schema_editor):
    from audit import guard

    guard.install(schema_editor)
    apps.get_model("audit", "ChainHead").objects.get_or_create(pk=1)


def uninstall(apps, schema_editor):
    from audit import guard

    guard.uninstall(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
