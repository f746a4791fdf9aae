"""Give the volunteer role to the people who signed up with Hugging Face before the social
adapter gave it (auto-signup skipped the account adapter, which alone added it): live accounts
with a social account and no role at all. Deleted accounts have neither, and keep none.
"""

from __future__ import annotations

from django.db import migrations


def give_volunteer_role(apps, schema_editor):  # type: ignore[no-untyped-def]
    User = apps.get_model("accounts", "User")
    Group = apps.get_model("auth", "Group")
    without_role = User.objects.filter(
        deleted_at__isnull=True, socialaccount__isnull=False, groups__isnull=True
    ).distinct()
    ids = list(without_role.values_list("pk", flat=True))
    if not ids:
        return
    volunteer, _ = Group.objects.get_or_create(name="volunteer")
    User.groups.through.objects.bulk_create(
        [User.groups.through(user_id=pk, group_id=volunteer.pk) for pk in ids],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_user_deleted_at"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("socialaccount", "0006_alter_socialaccount_extra_data"),
    ]

    operations = [
        # Backwards: nothing to undo; the role is what these accounts should have had.
        migrations.RunPython(give_volunteer_role, migrations.RunPython.noop),
    ]
