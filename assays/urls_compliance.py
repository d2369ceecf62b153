"""Compliance pages: a preparation's report, a study's table and its export, and the rule
catalogue (list, versions, staff edits). Included by assays/urls.py."""

from django.urls import path

from .views import compliance

urlpatterns = [
    path(
        "preparations/<int:pk>/compliance/",
        compliance.preparation_compliance,
        name="preparation-compliance",
    ),
    path("studies/<int:pk>/compliance/", compliance.study_compliance, name="study-compliance"),
    path(
        "studies/<int:pk>/compliance/export/",
        compliance.study_compliance_export,
        name="study-compliance-export",
    ),
    path("rules/", compliance.rule_list, name="rule-list"),
    path("rules/<int:pk>/", compliance.rule_detail, name="rule-detail"),
    path("rules/<int:pk>/edit/", compliance.rule_edit, name="rule-edit"),
    path("rules/<int:pk>/active/", compliance.rule_toggle, name="rule-toggle"),
]
