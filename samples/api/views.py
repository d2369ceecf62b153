"""REST endpoints for studies, memberships, donors and samples, plus ``me``.

Scoping, role checks, the cheap list path and CSV streaming live in
``exolims.api.StudyScopedViewSet``; these classes only say what differs per resource.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery, Value
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from exolims.api import Conflict, StudyScopedViewSet, document_list_with_csv
from exolims.history import HistoryActionMixin

from ..choices import Role
from ..filters import DonorFilterSet, MembershipFilterSet, SampleFilterSet, StudyFilterSet
from ..models import Donor, Sample, Study, StudyMembership
from .serializers import (
    DonorSerializer,
    MembershipSerializer,
    MembershipUpdateSerializer,
    SampleSerializer,
    StudySerializer,
)


@document_list_with_csv(StudySerializer)
class StudyViewSet(HistoryActionMixin, StudyScopedViewSet):
    """Studies you belong to (superusers: all). Creating one needs the ``samples.add_study``
    permission and makes you its manager; changing or deleting one needs the manager role."""

    queryset = Study.objects.all()
    serializer_class = StudySerializer
    filterset_class = StudyFilterSet
    ordering_fields = ("id", "code")
    write_role = Role.MANAGER

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        user = self.request.user
        if not user.is_authenticated:
            return queryset
        if user.is_superuser:
            return queryset.annotate(my_role=Value(Role.MANAGER.value))
        return queryset.annotate(
            my_role=Subquery(
                StudyMembership.objects.filter(study=OuterRef("pk"), user=user).values("role")[:1]
            )
        )

    def study_of(self, instance: Study) -> Study:
        return instance

    def role_in(self, study: Study) -> str | None:
        if hasattr(study, "my_role"):  # annotated by get_queryset: saves a query
            return study.my_role
        return super().role_in(study)

    def check_can_create(self) -> None:
        user = self.request.user
        if not (user.is_superuser or user.has_perm("samples.add_study")):
            raise exceptions.PermissionDenied(
                "Creating studies needs the 'Can add study' permission; ask an administrator."
            )

    def perform_create(self, serializer) -> None:
        with transaction.atomic():
            study = serializer.save()
            StudyMembership.objects.create(study=study, user=self.request.user, role=Role.MANAGER)
        study.my_role = Role.MANAGER.value


@document_list_with_csv(MembershipSerializer)
class MembershipViewSet(HistoryActionMixin, StudyScopedViewSet):
    """Who belongs to which study, with which role. Visible to the study's members;
    adding, changing and removing members needs the manager role."""

    queryset = StudyMembership.objects.all()
    serializer_class = MembershipSerializer
    filterset_class = MembershipFilterSet
    ordering_fields = ("id",)
    write_role = Role.MANAGER

    def get_queryset(self) -> QuerySet:
        return super().get_queryset().select_related("study", "user")

    def get_serializer_class(self):
        if self.action in {"update", "partial_update"}:
            return MembershipUpdateSerializer
        return MembershipSerializer

    def perform_update(self, serializer) -> None:
        membership = serializer.instance
        with transaction.atomic():
            if serializer.validated_data.get("role", membership.role) != Role.MANAGER:
                self._keep_a_manager(membership)
            serializer.save()

    def perform_destroy(self, instance: StudyMembership) -> None:
        with transaction.atomic():
            self._keep_a_manager(instance)
            instance.delete()

    @staticmethod
    def _keep_a_manager(membership: StudyMembership) -> None:
        """A study without a manager could never change its members again."""
        if membership.role != Role.MANAGER:
            return
        # Lock the study's manager rows so two managers cannot demote each other at once.
        managers = list(
            StudyMembership.objects.select_for_update()
            .filter(study_id=membership.study_id, role=Role.MANAGER)
            .values_list("id", flat=True)
        )
        if managers == [membership.pk]:
            raise Conflict(
                f"{membership.user.username} is the only manager of {membership.study.code}; "
                "make someone else manager first."
            )


@document_list_with_csv(DonorSerializer)
class DonorViewSet(HistoryActionMixin, StudyScopedViewSet):
    """Pseudonymous donors in your studies. Writing needs the editor role in the study."""

    queryset = Donor.objects.all()
    serializer_class = DonorSerializer
    filterset_class = DonorFilterSet
    ordering_fields = ("id", "code")

    def get_queryset(self) -> QuerySet:
        return super().get_queryset().select_related("study")


@document_list_with_csv(SampleSerializer)
class SampleViewSet(HistoryActionMixin, StudyScopedViewSet):
    """Body-fluid samples in your studies. Writing needs the editor role in the study."""

    queryset = Sample.objects.all()
    serializer_class = SampleSerializer
    filterset_class = SampleFilterSet
    ordering_fields = ("id", "accession", "collected_at")
    # Scoping depends only on the user and SampleFilterSet only on the query string.
    plan_list_queries = True

    def get_queryset(self) -> QuerySet:
        # Only the write path loads model instances; list/retrieve read .values() rows.
        return super().get_queryset().select_related("study", "donor")

    def get_read_queryset(self) -> QuerySet:
        # Same scoping as get_queryset, starting from the prebuilt .values() query.
        return SampleSerializer.all_read_values().visible_to(self.request.user)

    def perform_create(self, serializer) -> None:
        self.check_write(serializer.validated_data["study"])
        with transaction.atomic():
            serializer.save(created_by=self.request.user)


# --- The caller ------------------------------------------------------------------------


class MyMembershipSerializer(serializers.Serializer):
    study = serializers.IntegerField(source="study_id")
    study_code = serializers.CharField(source="study.code")
    role = serializers.ChoiceField(choices=Role.choices)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.EmailField()
    is_superuser = serializers.BooleanField()
    can_create_studies = serializers.BooleanField()
    memberships = MyMembershipSerializer(many=True)


class MeView(APIView):
    """Who you are, as the API sees you (session or token), and your study roles."""

    @extend_schema(responses=MeSerializer, tags=["me"])
    def get(self, request, *args: Any, **kwargs: Any) -> Response:
        user = request.user
        memberships = StudyMembership.objects.filter(user=user).select_related("study")
        data = {
            "id": user.pk,
            "username": user.get_username(),
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "is_superuser": user.is_superuser,
            "can_create_studies": user.is_superuser or user.has_perm("samples.add_study"),
            "memberships": memberships,
        }
        return Response(MeSerializer(data).data)
