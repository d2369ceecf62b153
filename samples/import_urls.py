"""Manifest (bulk registration) pages."""

from django.urls import path

from . import import_views as views

app_name = "imports"
urlpatterns = [
    path("", views.start, name="start"),
    path("template.csv", views.template_csv, name="template-csv"),
    path("template.xlsx", views.template_xlsx, name="template-xlsx"),
    path("<int:pk>/", views.preview, name="preview"),
    path("<int:pk>/commit/", views.commit, name="commit"),
    path("<int:pk>/discard/", views.discard, name="discard"),
    path("<int:pk>/errors.csv", views.errors_csv, name="errors"),
    path("<int:pk>/done/", views.done, name="done"),
]
