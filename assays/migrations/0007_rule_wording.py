"""Built-in rules with the catalogue's current wording, and one antibody definition.

Rows still as the catalogue made them (``is_builtin=True``: no lab edit, which always makes
a new, non-built-in version) take the catalogue's title, explanation, source, fix hint and
parameters: sources cite publications rather than the team's notes, fix hints no longer
promise the wrong form, and EVM-AB judges antibodies as CH-09-AB does. The antibody check
no longer has ``accept_clone_or_catalogue``; current lab versions lose that key too, or
their next edit would be refused for an unknown parameter.
"""

from django.db import migrations

WORDING_FIELDS = ("title", "explanation", "source", "fix_hint", "params")
RETIRED = "accept_clone_or_catalogue"


def reword(apps, schema_editor):
    from assays.compliance.catalogue import BUILTIN_RULES

    rule_model = apps.get_model("assays", "ComplianceRule")
    catalogue = {rule["code"]: rule for rule in BUILTIN_RULES}
    for row in rule_model.objects.filter(is_builtin=True, code__in=list(catalogue)):
        entry = catalogue[row.code]
        changed = [f for f in WORDING_FIELDS if getattr(row, f) != entry[f]]
        for name in changed:
            setattr(row, name, entry[name])
        if changed:
            row.save(update_fields=changed)
    for row in rule_model.objects.filter(check_name="antibody_details", is_current=True):
        if RETIRED in (row.params or {}):
            row.params = {k: v for k, v in row.params.items() if k != RETIRED}
            row.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [("assays", "0006_builtin_rules")]

    operations = [migrations.RunPython(reword, migrations.RunPython.noop)]
