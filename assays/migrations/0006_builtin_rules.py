from django.db import migrations


def load(apps, schema_editor):
    from assays.compliance.catalogue import load_builtin_rules

    load_builtin_rules(apps.get_model("assays", "ComplianceRule"))


class Migration(migrations.Migration):
    dependencies = [("assays", "0005_compliance_rules")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
