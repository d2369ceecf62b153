"""Characterisation pages: protein plates and results, flow, DLS and qPCR (owner: pages A)."""

urlpatterns: list = []
