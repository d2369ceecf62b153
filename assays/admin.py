"""Admin for the rotor catalogue, the protocol library, runs and preparations.

Rotors are plain catalogue rows and editable here. Protocols, versions, steps, runs and
preparations change only through ``assays.services`` (freezing, atomic runs, tube custody),
so the admin shows them read-only; runs and preparations keep the study scoping.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import (
    EVPreparation,
    IsolationProtocol,
    IsolationRun,
    ProtocolStep,
    ProtocolVersion,
    Rotor,
    RunInput,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Rotor)
class RotorAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "manufacturer",
        "rotor_type",
        "r_min_mm",
        "r_max_mm",
        "max_rpm",
        "k_factor",
        "is_active",
    ]
    list_filter = ["rotor_type", "is_active"]
    search_fields = ["name", "manufacturer"]


class StepInline(ReadOnlyInline):
    model = ProtocolStep
    fields = ["order", "kind", "title", "parameters", "rotor", "notes"]
    readonly_fields = fields


class VersionInline(ReadOnlyInline):
    model = ProtocolVersion
    fields = ["number", "status", "changes", "published_at"]
    readonly_fields = fields
    show_change_link = True


@admin.register(IsolationProtocol)
class IsolationProtocolAdmin(ReadOnlyAdmin):
    list_display = ["name", "created_by", "created_at"]
    search_fields = ["name"]
    inlines = [VersionInline]


@admin.register(ProtocolVersion)
class ProtocolVersionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "status", "created_at", "published_at"]
    list_filter = ["status"]
    search_fields = ["protocol__name"]
    list_select_related = ["protocol"]
    inlines = [StepInline]


class RunInputInline(ReadOnlyInline):
    model = RunInput
    fields = ["aliquot", "volume_used_ml"]
    readonly_fields = fields


class PreparationInline(ReadOnlyInline):
    model = EVPreparation
    fields = [
        "aliquot",
        "source",
        "nomenclature_term",
        "author_term",
        "fraction",
        "resuspension_volume_ml",
    ]
    readonly_fields = fields


class StudyScopedReadOnlyAdmin(ReadOnlyAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).visible_to(request.user)


@admin.register(IsolationRun)
class IsolationRunAdmin(StudyScopedReadOnlyAdmin):
    list_display = ["__str__", "study", "operator", "started_at"]
    list_filter = ["study"]
    list_select_related = ["study", "operator", "protocol_version__protocol"]
    inlines = [RunInputInline, PreparationInline]


@admin.register(EVPreparation)
class EVPreparationAdmin(StudyScopedReadOnlyAdmin):
    list_display = ["aliquot", "run", "nomenclature_term", "author_term", "fraction"]
    list_filter = ["nomenclature_term"]
    list_select_related = ["aliquot", "run__protocol_version__protocol"]
