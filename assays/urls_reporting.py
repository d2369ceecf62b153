"""Reporting: methods text for a preparation or a study, EV-TRACK export of a preparation.

Included from assays/urls.py: ``path("", include("assays.urls_reporting"))``.
"""

from django.urls import path

from .views import reporting

urlpatterns = [
    path(
        "preparations/<int:pk>/methods/",
        reporting.methods_preparation,
        name="methods-preparation",
    ),
    path("studies/<int:pk>/methods/", reporting.methods_study, name="methods-study"),
    path("preparations/<int:pk>/evtrack.json", reporting.evtrack_json, name="evtrack-json"),
    path("preparations/<int:pk>/evtrack.csv", reporting.evtrack_csv, name="evtrack-csv"),
]
