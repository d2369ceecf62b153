"""Top-level routes: pages, accounts, the versioned API and the admin."""

from importlib.util import find_spec

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("exolims.api_urls")),
    path("accounts/", include("exolims.account_urls")),
    path("import/", include("samples.import_urls")),
    path("labels/", include("samples.label_urls")),
    path("admin/", admin.site.urls),
    path("", include("samples.urls")),
]

# Isolation and characterisation pages (assays/urls.py), once present.
if find_spec("assays.urls") is not None:
    urlpatterns.insert(-1, path("assays/", include("assays.urls")))
