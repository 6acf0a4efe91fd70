from django.db import migrations

GROUPS = ("integration",)


def create_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in GROUPS:
        Group.objects.get_or_create(name=name)


def delete_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=GROUPS).delete()


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_role_groups")]

    operations = [migrations.RunPython(create_groups, delete_groups)]
