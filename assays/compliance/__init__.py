"""Compliance of EV preparations with reporting standards (MISEV2018, MISEV2023, EV-METRIC,
MIBlood-EV, urine), with the rules kept as data (``assays.models.ComplianceRule``).

- ``facts``: what a preparation's records say, loaded in a fixed number of queries.
- ``checks``: the generic, parameterised checks a rule can name, and applicability.
- ``catalogue``: the built-in rules, loaded by a data migration.
- ``engine``: ``evaluate`` (pure) and ``evaluate_preparations`` (facts + rules from the DB).
- ``purity``: particle:protein ratio and recovery arithmetic with unit conversions.
- ``rules``: editing rules as new versions, switching them off, labs' own rules.
"""
