"""Marker results, the marker vocabulary and imaging records (owner: pages B)."""

urlpatterns: list = []
