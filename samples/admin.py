"""Admin for studies, memberships, donors and samples.

The admin is a staff tool, but it keeps the study scoping of the rest of the app: a staff
member who is not a superuser sees and edits only records of studies they manage or edit.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .models import Donor, Sample, Study, StudyMembership


class StudyScopedAdmin(admin.ModelAdmin):
    """Lists what the user may see; study and donor choices are limited to editable ones."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).visible_to(request.user)

    def formfield_for_foreignkey(self, db_field, request: HttpRequest, **kwargs):
        if db_field.name == "study":
            kwargs["queryset"] = Study.objects.editable_by(request.user)
        elif db_field.name == "donor":
            kwargs["queryset"] = Donor.objects.editable_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or self._editable(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        return obj is None or self._editable(request, obj)

    def _editable(self, request: HttpRequest, obj) -> bool:
        return type(obj).objects.editable_by(request.user).filter(pk=obj.pk).exists()


class MembershipInline(admin.TabularInline):
    model = StudyMembership
    extra = 0
    autocomplete_fields = ["user"]
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]


@admin.register(Study)
class StudyAdmin(StudyScopedAdmin):
    list_display = ["code", "title", "principal_investigator", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["code", "title", "principal_investigator"]
    readonly_fields = ["created_at", "updated_at"]
    fields = [
        "code",
        "title",
        "description",
        "principal_investigator",
        "is_active",
        "max_freeze_thaw_cycles",
        "created_at",
        "updated_at",
    ]
    inlines = [MembershipInline]

    def _editable(self, request: HttpRequest, obj) -> bool:
        # Membership is edited inline here, which is a manager's right.
        return Study.objects.managed_by(request.user).filter(pk=obj.pk).exists()


@admin.register(StudyMembership)
class StudyMembershipAdmin(StudyScopedAdmin):
    list_display = ["study", "user", "role", "created_at"]
    list_filter = ["role", "study"]
    search_fields = ["study__code", "user__username"]
    list_select_related = ["study", "user"]
    autocomplete_fields = ["user"]
    fields = ["study", "user", "role"]

    def _editable(self, request: HttpRequest, obj) -> bool:
        return StudyMembership.objects.managed_by(request.user).filter(pk=obj.pk).exists()


@admin.register(Donor)
class DonorAdmin(StudyScopedAdmin):
    list_display = ["code", "study", "species", "sex", "birth_year", "consent_status"]
    list_filter = ["study", "species", "sex", "consent_status"]
    search_fields = ["code", "study__code"]
    list_select_related = ["study"]
    readonly_fields = ["created_at", "updated_at"]
    fields = [
        "study",
        "code",
        "species",
        "sex",
        "birth_year",
        "age_at_collection",
        "conditions",
        "consent_status",
        "consent_date",
        "notes",
        "created_at",
        "updated_at",
    ]


@admin.register(Sample)
class SampleAdmin(StudyScopedAdmin):
    list_display = [
        "accession",
        "study",
        "donor",
        "fluid_type",
        "collected_at",
        "volume_ml",
        "status",
        "sprec_code",
    ]
    list_filter = ["study", "fluid_type", "status", "tube_type", "storage_container"]
    search_fields = ["accession", "notes", "donor__code"]
    list_select_related = ["study", "donor"]
    date_hierarchy = "collected_at"
    # With a million samples an exact count on every filtered page is too slow.
    show_full_result_count = False
    raw_id_fields = ["donor"]
    readonly_fields = ["accession", "sprec_code", "created_by", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["accession", "study", "donor", "fluid_type", "status", "volume_ml"]}),
        (
            "Collection and processing",
            {
                "fields": [
                    "collected_at",
                    "tube_type",
                    "fasting_state",
                    "fasting_hours",
                    "time_to_processing_min",
                    "processing_temp_c",
                    "centrifugation_steps",
                    "post_centrifugation_delay_min",
                    "post_centrifugation_temp_c",
                ]
            },
        ),
        (
            "Quality",
            {"fields": ["haemolysis_a414", "free_haemoglobin_g_l", "residual_platelets_per_ml"]},
        ),
        ("Urine", {"fields": ["urine_void_type", "creatinine_mmol_l"]}),
        (
            "Conditioned cell-culture medium",
            {
                "fields": [
                    "cell_line",
                    "passage_number",
                    "culture_serum",
                    "serum_ev_depletion",
                    "conditioning_hours",
                    "viability_at_harvest_pct",
                ]
            },
        ),
        ("Storage", {"fields": ["storage_container", "storage_temp_c"]}),
        (None, {"fields": ["notes", "sprec_code", "created_by", "created_at", "updated_at"]}),
    ]

    def save_model(self, request: HttpRequest, obj: Sample, form, change: bool) -> None:
        if not change and obj.created_by_id is None:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
