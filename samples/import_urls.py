"""Manifest (bulk registration) pages (owned by the import work)."""

app_name = "imports"
urlpatterns: list = []
