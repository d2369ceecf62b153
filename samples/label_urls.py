"""Label printing pages (PDF sheets, ZPL)."""

app_name = "labels"
urlpatterns: list = []
