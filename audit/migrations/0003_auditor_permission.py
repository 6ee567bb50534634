"""The auditor (data protection officer) group holds one permission: to view audit entries."""

from django.db import migrations


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are created after migrate; this one is needed now.
    app_config = apps.get_app_config("audit")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="auditor")
    group.permissions.set([Permission.objects.get(content_type__app_label="audit", codename="view_auditentry")])


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name="auditor"):
        group.permissions.clear()


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0002_append_only"),
        ("people", "0003_auditor_group"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant, revoke)]
