"""The auditor (data protection officer) role group."""

from django.db import migrations


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name="auditor")


def delete_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="auditor").delete()


class Migration(migrations.Migration):
    dependencies = [("people", "0002_role_groups")]
    operations = [migrations.RunPython(create_group, delete_group)]
