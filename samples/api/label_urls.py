"""Included by the API URLconf at /api/v1/labels/."""

from django.urls import path

from .labels import AccessionLabelsView, BoxLabelsView, LabelStocksView

urlpatterns = [
    path("", AccessionLabelsView.as_view(), name="api-labels"),
    path("box/<int:pk>/", BoxLabelsView.as_view(), name="api-labels-box"),
    path("stocks/", LabelStocksView.as_view(), name="api-label-stocks"),
]
