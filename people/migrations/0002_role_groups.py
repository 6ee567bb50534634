"""The role groups exist from the first migrate: they are data the code relies on, not something set by hand."""

from django.db import migrations

ROLES = [
    "prescriber",
    "prescription_assistant",
    "genetic_counsellor",
    "rcp_member",
    "laboratory_staff",
    "biologist",
    "national_coordination",
    "administrator",
]


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [("people", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_groups, delete_groups)]
