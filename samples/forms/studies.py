"""Study and membership forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from ..choices import ComplianceProfile, Role
from ..models import Study, StudyMembership


class StudyForm(forms.ModelForm):
    class Meta:
        model = Study
        fields = [
            "code",
            "title",
            "description",
            "principal_investigator",
            "is_active",
            "max_freeze_thaw_cycles",
            "compliance_profile",
            "purity_min_particles_per_ug",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Scripts and older forms that do not send it get the model's default standard.
        self.fields["compliance_profile"].required = False

    def clean_compliance_profile(self) -> str:
        return self.cleaned_data.get("compliance_profile") or ComplianceProfile.MISEV2018

    @transaction.atomic
    def create(self, *, creator) -> Study:
        """Save a new study with its creator as manager, both or neither."""
        study = self.save()
        StudyMembership.objects.create(study=study, user=creator, role=Role.MANAGER)
        return study


def _other_managers_locked(study: Study, *, excluding: StudyMembership) -> int:
    """Count the study's other managers, locking their rows so two managers demoting each
    other at the same moment cannot leave the study without one. Needs a transaction."""
    return len(
        StudyMembership.objects.select_for_update()
        .filter(study=study, role=Role.MANAGER)
        .exclude(pk=excluding.pk)
        .values_list("pk", flat=True)
    )


class MembershipAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def __init__(self, *args: Any, study: Study, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.study = study

    def clean_username(self):
        username = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise ValidationError(f"No active user named “{username}”.")
        if StudyMembership.objects.filter(study=self.study, user=user).exists():
            raise ValidationError(f"{username} is already a member; change their role below.")
        return user

    def save(self) -> StudyMembership:
        return StudyMembership.objects.create(
            study=self.study, user=self.cleaned_data["username"], role=self.cleaned_data["role"]
        )


class MembershipRoleForm(forms.Form):
    """Change a member's role; validate inside a transaction (the last-manager check locks)."""

    role = forms.ChoiceField(choices=Role.choices)

    def __init__(self, *args: Any, membership: StudyMembership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.membership = membership

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        if (
            self.membership.role == Role.MANAGER
            and role != Role.MANAGER
            and not _other_managers_locked(self.membership.study, excluding=self.membership)
        ):
            raise ValidationError("A study needs at least one manager; appoint another first.")
        return role

    def save(self) -> StudyMembership:
        self.membership.role = self.cleaned_data["role"]
        self.membership.save(update_fields=["role"])
        return self.membership


class MembershipRemoveForm(forms.Form):
    """Remove a member; validate inside a transaction (the last-manager check locks)."""

    def __init__(self, *args: Any, membership: StudyMembership, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.membership = membership

    def clean(self) -> dict[str, Any]:
        if self.membership.role == Role.MANAGER and not _other_managers_locked(
            self.membership.study, excluding=self.membership
        ):
            raise ValidationError(
                "This is the study's last manager; appoint another manager before removing them."
            )
        return super().clean()

    def save(self) -> None:
        self.membership.delete()
