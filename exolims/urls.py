"""Top-level routes: pages, accounts, the versioned API and the admin."""

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
