"""Login, logout and API-token pages (owned by the pages work)."""

urlpatterns: list = []
