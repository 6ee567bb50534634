"""Model permissions of the role groups for people and prescriptions.

Object-level access (which dossier) is decided by the rules in prescriptions/rules.py; these model permissions
only open the admin and the catalogue."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CATALOGUE_READERS = [
    "prescriber",
    "prescription_assistant",
    "genetic_counsellor",
    "rcp_member",
    "laboratory_staff",
    "biologist",
    "national_coordination",
]
CATALOGUE_VIEW = ["view_preindication", "view_preindicationversion", "view_preindicationdocument"]


def grant(apps, schema_editor):
    # Permissions are normally created after migrate (post_migrate); create them now so they can be granted.
    for app_label in ("people", "prescriptions"):
        app_config = apps.get_app_config(app_label)
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admin = Group.objects.get(name="administrator")
    admin.permissions.add(*Permission.objects.filter(content_type__app_label__in=["people", "prescriptions"]))
    view = Permission.objects.filter(content_type__app_label="prescriptions", codename__in=CATALOGUE_VIEW)
    for name in CATALOGUE_READERS:
        Group.objects.get(name=name).permissions.add(*view)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=[*CATALOGUE_READERS, "administrator"]):
        group.permissions.remove(*group.permissions.filter(content_type__app_label__in=["people", "prescriptions"]))


class Migration(migrations.Migration):
    dependencies = [("prescriptions", "0001_initial"), ("people", "0002_role_groups")]
    operations = [migrations.RunPython(grant, revoke)]
