"""Label printing pages (PDF sheets, ZPL)."""

from django.urls import path

from . import label_views as views

app_name = "labels"
urlpatterns = [
    path("samples/<int:pk>/", views.sample_page, name="sample"),
    path("aliquots/<int:pk>/", views.aliquot_page, name="aliquot"),
    path("boxes/<int:pk>/", views.box_page, name="box"),
    path("selection/", views.selection_page, name="selection"),
]
