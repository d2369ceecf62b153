"""Included by the API URLconf at /api/v1/sample-imports/."""

from django.urls import path

from .manifest import SampleImportView

urlpatterns = [path("", SampleImportView.as_view(), name="api-sample-import")]
