"""Sample, donor and study pages (owned by the pages work)."""

app_name = "samples"
urlpatterns: list = []
