from django.db import migrations


def load(apps, schema_editor):
    from assays.vocabulary import load_builtin_markers

    load_builtin_markers(apps.get_model("assays", "Marker"))


class Migration(migrations.Migration):
    dependencies = [("assays", "0003_characterisation")]

    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
