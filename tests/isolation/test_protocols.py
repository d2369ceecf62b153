"""Protocol library services: versions, freezing, publishing, cloning, diffs, permissions."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from assays import services
from assays.choices import VersionStatus
from assays.models import IsolationProtocol, ProtocolStep, ProtocolVersion

SEC_STEP = {
    "kind": "sec",
    "title": "qEV",
    "parameters": {"column": "qEV original 70 nm", "load_volume_ml": {"value": 500, "unit": "µL"}},
}


def test_create_protocol_makes_a_draft_v1_with_clean_steps(draft, sw41):
    assert draft.number == 1 and draft.status == VersionStatus.DRAFT
    steps = list(draft.steps.order_by("order"))
    assert [s.order for s in steps] == [1, 2]
    uc = steps[1]
    assert uc.rotor == sw41
    # rpm with the rotor: force computed; µL stored as mL.
    assert uc.parameters["g_force"] == pytest.approx(177_987, abs=1)
    assert uc.parameters["resuspension_volume_ml"] == 0.1


def test_invalid_steps_leave_nothing(librarian):
    bad = [SEC_STEP, {"kind": "ultracentrifugation", "parameters": {"g_force": 0}}]
    with pytest.raises(services.StepsInvalid) as caught:
        services.create_protocol(name="Broken", steps=bad, user=librarian)
    assert set(caught.value.by_step) == {1}
    assert "g_force: must be between 1 and 1,500,000 ×g" in caught.value.by_step[1]["g_force"][0]
    assert any(m.startswith("Step 2: g_force") for m in caught.value.message_dict["steps"])
    assert not IsolationProtocol.objects.exists()


def test_rotor_only_on_centrifugation_steps(librarian, sw41):
    with pytest.raises(services.StepsInvalid) as caught:
        services.create_protocol(name="SEC", steps=[{**SEC_STEP, "rotor": sw41.pk}], user=librarian)
    assert "only centrifugation steps" in caught.value.by_step[0]["rotor"][0]


def test_duplicate_name_refused(draft, librarian):
    with pytest.raises(ValidationError) as caught:
        services.create_protocol(name="duc 100K", steps=[SEC_STEP], user=librarian)
    assert "already exists" in caught.value.message_dict["name"][0]


def test_library_needs_permission(members, uc_steps):
    with pytest.raises(PermissionDenied):
        services.create_protocol(name="X", steps=uc_steps, user=members["manager"])


def test_draft_steps_are_replaced_in_place(draft, librarian):
    saved = services.save_version_steps(version=draft, steps=[SEC_STEP], user=librarian)
    assert saved.pk == draft.pk
    assert list(draft.steps.values_list("kind", flat=True)) == ["sec"]


def test_published_version_is_frozen(published, librarian):
    with pytest.raises(services.VersionFrozen) as caught:
        services.save_version_steps(version=published, steps=[SEC_STEP], user=librarian)
    assert "is published; its steps cannot change" in caught.value.messages[0]
    assert published.steps.count() == 2


def test_frozen_edit_with_new_version_makes_the_next_draft(published, librarian):
    v2 = services.save_version_steps(
        version=published, steps=[SEC_STEP], user=librarian, new_version=True, changes="SEC only"
    )
    assert (v2.number, v2.status, v2.changes) == (2, VersionStatus.DRAFT, "SEC only")
    assert list(v2.steps.values_list("kind", flat=True)) == ["sec"]
    published.refresh_from_db()
    assert published.status == VersionStatus.PUBLISHED and published.steps.count() == 2
    # A second "new version" while v2 is an open draft is refused.
    with pytest.raises(services.VersionFrozen) as caught:
        services.save_version_steps(
            version=published, steps=[SEC_STEP], user=librarian, new_version=True
        )
    assert "v2 is already a draft" in caught.value.messages[0]


def test_version_used_by_a_run_is_frozen_even_if_retired(run_for, published, librarian):
    run_for()
    services.retire_version(version=published, user=librarian)
    with pytest.raises(services.VersionFrozen) as caught:
        services.save_version_steps(version=published, steps=[SEC_STEP], user=librarian)
    assert "has been used by 1 run" in caught.value.messages[0]


def test_publish_rules(librarian, draft):
    empty = services.create_protocol(name="Empty", steps=[], user=librarian)
    with pytest.raises(ValidationError) as caught:
        services.publish_version(version=empty, user=librarian)
    assert "has no steps" in caught.value.message_dict["steps"][0]

    # A step that no longer validates (stored before a rule changed) blocks publishing.
    ProtocolStep.objects.filter(version=draft, order=1).update(parameters={"g_force": 5})
    with pytest.raises(services.StepsInvalid):
        services.publish_version(version=draft, user=librarian)
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT


def test_publish_then_retire(draft, librarian):
    version = services.publish_version(version=draft, user=librarian)
    assert version.status == VersionStatus.PUBLISHED and version.published_at
    with pytest.raises(ValidationError):
        services.publish_version(version=draft, user=librarian)
    services.retire_version(version=draft, user=librarian)
    with pytest.raises(ValidationError) as caught:
        services.publish_version(version=draft, user=librarian)
    assert "retired" in caught.value.message_dict["status"][0]


def test_clone_copies_steps_and_remembers_the_source(published, librarian):
    clone = services.clone_protocol(version=published, new_name="dUC 100k (lab B)", user=librarian)
    assert clone.protocol.cloned_from == published
    assert clone.number == 1 and clone.status == VersionStatus.DRAFT
    original = list(published.steps.values_list("kind", "parameters", "rotor_id"))
    assert list(clone.steps.values_list("kind", "parameters", "rotor_id")) == original
    with pytest.raises(ValidationError):
        services.clone_protocol(version=published, new_name="dUC 100k", user=librarian)


def test_diff_between_versions(published, librarian, uc_steps):
    changed = [dict(s) for s in uc_steps]
    changed[0] = {
        **changed[0],
        "parameters": {"g_force": 3000, "g_basis": "average", "duration_min": 10, "brake": False},
    }
    changed.append(SEC_STEP)
    v2 = services.save_version_steps(
        version=published, steps=changed, user=librarian, new_version=True
    )
    diff = services.diff_versions(published, v2)
    assert diff.has_changes
    first, second, third = diff.steps
    assert first.status == "changed"
    assert [(c.name, c.old, c.new) for c in first.changed] == [("g_force", 2000.0, 3000.0)]
    assert first.added == {"brake": False}
    assert second.status == "same"
    assert third.status == "added" and third.kind_b == "sec"
    data = diff.as_dict()
    assert data["steps"][0]["changed"] == [{"name": "g_force", "old": 2000.0, "new": 3000.0}]
    back = services.diff_versions(v2, published)
    assert back.steps[2].status == "removed"
    assert not services.diff_versions(published, published).has_changes


def test_next_version_copies_steps(published, librarian):
    v2 = services.create_next_version(version=published, user=librarian, changes="tweak")
    assert v2.number == 2
    assert list(v2.steps.values_list("parameters", flat=True)) == list(
        published.steps.values_list("parameters", flat=True)
    )
    assert ProtocolVersion.objects.filter(protocol=published.protocol).count() == 2


def test_version_details_frozen_after_publishing(draft, librarian):
    services.update_version_details(
        version=draft, user=librarian, changes="first", recovery_specificity="intermediate"
    )
    draft.refresh_from_db()
    assert draft.recovery_specificity == "intermediate"
    services.publish_version(version=draft, user=librarian)
    with pytest.raises(services.VersionFrozen):
        services.update_version_details(version=draft, user=librarian, changes="later")
