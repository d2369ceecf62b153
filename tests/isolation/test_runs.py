"""Recording isolation runs: withdrawals, preparations as tubes, atomicity, scoping."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from assays import services
from assays.models import EVPreparation, IsolationRun, RunInput
from samples import services as tube_services
from samples.choices import AliquotKind, CustodyKind
from samples.lineage import lineage_of
from samples.models import Aliquot, CustodyEvent


def _nothing_recorded(*tubes: Aliquot, remaining: list[Decimal]) -> None:
    assert not IsolationRun.objects.exists()
    assert not RunInput.objects.exists()
    assert not EVPreparation.objects.exists()
    assert not Aliquot.objects.filter(kind=AliquotKind.EV_PREPARATION).exists()
    for tube, left in zip(tubes, remaining, strict=True):
        tube.refresh_from_db()
        assert tube.remaining_volume_ml == left
        assert not tube.custody_events.filter(kind=CustodyKind.WITHDRAWN).exists()


def test_run_withdraws_exactly_and_creates_preparations(run_for, input_tube, box, members):
    run = run_for(
        inputs=[(input_tube, Decimal("1.2345"))],
        outputs=[
            {
                "nomenclature_term": "small_EV",
                "author_term": "exosomes",
                "fraction": "7-9",
                "resuspension_buffer": "PBS",
                "volume_ml": "0.1",
                "box": box,
                "position": "B2",
            },
            {"nomenclature_term": "EV", "volume_ml": Decimal("0.05"), "box": box.pk},
        ],
        deviations="Brake left on in step 1.",
    )
    input_tube.refresh_from_db()
    assert input_tube.remaining_volume_ml == Decimal("4.0") - Decimal("1.2345")
    withdrawn = input_tube.custody_events.get(kind=CustodyKind.WITHDRAWN)
    assert withdrawn.volume_ml == Decimal("1.2345") and f"run {run.pk}" in withdrawn.note

    assert run.study == input_tube.study and run.operator == members["editor"]
    assert run.inputs.get().volume_used_ml == Decimal("1.2345")
    preps = list(run.preparations.select_related("aliquot").order_by("id"))
    assert [p.nomenclature_term for p in preps] == ["small_EV", "EV"]
    first = preps[0]
    tube = first.aliquot
    assert tube.kind == AliquotKind.EV_PREPARATION and tube.parent == input_tube
    assert tube.study == input_tube.study and tube.sample == input_tube.sample
    assert tube.volume_ml == tube.remaining_volume_ml == Decimal("0.1")
    assert (tube.box, tube.position, tube.is_frozen) == (box, "B2", True)
    assert first.resuspension_volume_ml == Decimal("0.1") and first.author_term == "exosomes"
    assert preps[1].aliquot.position == "A1"  # first free well
    kinds = list(tube.custody_events.values_list("kind", flat=True))
    assert kinds == [CustodyKind.CREATED, CustodyKind.PLACED, CustodyKind.FROZEN]
    created = tube.custody_events.get(kind=CustodyKind.CREATED)
    assert created.note.startswith(f"Derived from {input_tube.accession}")

    # The lineage shows the preparations under the input tube.
    tree = lineage_of(input_tube, user=members["editor"]).as_dict()
    children = {n["accession"] for n in tree["descendants"]}
    assert {p.aliquot.accession for p in preps} <= children


def test_two_inputs_outputs_by_source_and_index(run_for, input_tube, second_tube):
    run = run_for(
        inputs=[(input_tube, "1"), (second_tube, "2")],
        outputs=[
            {"nomenclature_term": "EV", "volume_ml": "0.1", "input": 1},
            {"nomenclature_term": "EV", "volume_ml": "0.1", "source_aliquot": input_tube},
        ],
    )
    parents = sorted(
        run.preparations.values_list("aliquot__parent_id", "source__aliquot_id"), key=str
    )
    assert sorted(parents) == sorted(
        [(second_tube.pk, second_tube.pk), (input_tube.pk, input_tube.pk)]
    )
    second_tube.refresh_from_db()
    assert second_tube.remaining_volume_ml == Decimal("1.0")


def test_failure_midway_leaves_nothing(run_for, input_tube, second_tube, box, members):
    """The second output's well is taken: found only after the withdrawals and the first
    input's preparations were written, and everything is undone."""
    occupant = tube_services.split_into_aliquots(
        source=input_tube.sample,
        volumes_ml=[Decimal("0.5")],
        user=members["editor"],
        box=box,
        positions=["C3"],
    )[0]
    with pytest.raises(ValidationError) as caught:
        run_for(
            inputs=[(input_tube, "1"), (second_tube, "1")],
            outputs=[
                {"nomenclature_term": "EV", "volume_ml": "0.1", "input": 0, "box": box},
                {
                    "nomenclature_term": "EV",
                    "volume_ml": "0.1",
                    "input": 1,
                    "box": box,
                    "position": "C3",
                },
            ],
        )
    assert f"occupied by {occupant.accession}" in caught.value.message_dict["outputs"][0]
    _nothing_recorded(input_tube, second_tube, remaining=[Decimal("4.0"), Decimal("3.0")])
    assert Aliquot.objects.filter(box=box).count() == 1


def test_failure_in_the_last_write_leaves_nothing(run_for, input_tube, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(EVPreparation.objects, "bulk_create", explode)
    with pytest.raises(RuntimeError):
        run_for()
    _nothing_recorded(input_tube, remaining=[Decimal("4.0")])


def test_not_enough_volume_is_refused_before_writing(run_for, input_tube):
    with pytest.raises(ValidationError) as caught:
        run_for(inputs=[(input_tube, "5")])
    assert "only 4 mL left" in caught.value.message_dict["inputs"][0]
    _nothing_recorded(input_tube, remaining=[Decimal("4.0")])


def test_every_problem_reported_at_once(run_for, input_tube, started):
    with pytest.raises(ValidationError) as caught:
        run_for(
            inputs=[(input_tube, "0")],
            outputs=[{"nomenclature_term": "exosome", "volume_ml": "-1"}],
            ended_at=started - timedelta(hours=1),
            step_actuals={"9": {"rpm": 1}, "2": {"rpm": 99_000}},
        )
    errors = caught.value.message_dict
    assert set(errors) >= {"inputs", "outputs", "ended_at", "step_actuals"}
    assert any("not a MISEV2023 term" in m for m in errors["outputs"])
    assert any("has no step 9" in m for m in errors["step_actuals"])
    assert any("above the maximum of SW 41 Ti" in m for m in errors["step_actuals"])


def test_only_published_versions_run(run_for, input_tube, librarian, uc_steps):
    draft = services.create_protocol(name="Other", steps=uc_steps, user=librarian)
    with pytest.raises(ValidationError) as caught:
        run_for(version=draft)
    assert "only published versions can be run" in caught.value.message_dict["protocol_version"][0]
    services.publish_version(version=draft, user=librarian)
    services.retire_version(version=draft, user=librarian)
    with pytest.raises(ValidationError) as caught:
        run_for(version=draft)
    assert "is retired" in caught.value.message_dict["protocol_version"][0]
    _nothing_recorded(input_tube, remaining=[Decimal("4.0")])


def test_inputs_from_two_studies_refused(run_for, input_tube, foreign_tube):
    with pytest.raises(ValidationError) as caught:
        run_for(
            inputs=[(input_tube, "1"), (foreign_tube, "1")],
            outputs=[{"nomenclature_term": "EV", "volume_ml": "0.1", "input": 0}],
        )
    assert "must belong to one study" in caught.value.message_dict["inputs"][0]
    _nothing_recorded(input_tube, foreign_tube, remaining=[Decimal("4.0"), Decimal("2.0")])


def test_viewer_cannot_run_and_outsider_cannot_see_tubes(run_for, input_tube, members):
    with pytest.raises(PermissionDenied):
        run_for(user=members["viewer"])
    with pytest.raises(ValidationError) as caught:
        run_for(user=members["outsider"])
    assert "in your studies" in caught.value.message_dict["inputs"][0]
    _nothing_recorded(input_tube, remaining=[Decimal("4.0")])


def test_times_must_be_sane(run_for, input_tube):
    with pytest.raises(ValidationError) as caught:
        run_for(started_at=timezone.now() + timedelta(days=1), ended_at=None)
    assert "future" in caught.value.message_dict["started_at"][0]
    with pytest.raises(ValidationError) as caught:
        run_for(started_at=timezone.now().replace(tzinfo=None), ended_at=None)
    assert "time zone" in caught.value.message_dict["started_at"][0]


def test_at_least_one_output(run_for):
    with pytest.raises(ValidationError) as caught:
        run_for(outputs=[])
    assert "at least one preparation" in caught.value.message_dict["outputs"][0]


def test_step_actuals_are_cleaned_and_drive_rotor_figures(run_for, type70):
    run = run_for(step_actuals={2: {"rpm": "35000", "duration_min": {"value": 1.5, "unit": "h"}}})
    assert run.step_actuals["2"]["rpm"] == 35_000
    assert run.step_actuals["2"]["duration_min"] == 90
    steps = services.run_steps(run)
    assert steps[1].effective["rpm"] == 35_000 and steps[1].planned["rpm"] == 38_000

    (figures,) = services.run_rotor_figures(run, compare_with=[type70])
    assert figures.step_order == 2 and figures.rpm == 35_000
    assert figures.k_factor_max == 124
    assert figures.k_adjusted == pytest.approx(124 * (41_000 / 35_000) ** 2, abs=0.1)
    assert figures.rcf_max == pytest.approx(209_678, abs=2)
    (equivalent,) = figures.equivalents
    assert equivalent.rotor_name == "Type 70 Ti" and equivalent.k_factor == 44
    assert equivalent.duration_min == pytest.approx(90 * 44 / figures.k_adjusted, abs=0.2)


def test_equivalent_on_uses_the_step_values(published, type70):
    step = published.steps.get(order=2)
    equivalent = services.equivalent_on(step, type70)
    # 38,000 rpm on SW 41 Ti: k = 124 · (41,000 / 38,000)² ≈ 144.4; 70 min → 70 · 44 / 144.4.
    assert equivalent.duration_min == pytest.approx(70 * 44 / (124 * (41 / 38) ** 2), abs=0.1)
    assert services.equivalent_on(published.steps.get(order=1), type70) is None  # no rotor


def test_preparation_can_be_split_like_any_tube(run_for, members):
    run = run_for()
    prep = run.preparations.get().aliquot
    children = tube_services.split_into_aliquots(
        source=prep, volumes_ml=[Decimal("0.02")], user=members["editor"]
    )
    assert children[0].parent == prep
    assert CustodyEvent.objects.filter(aliquot=prep, kind=CustodyKind.WITHDRAWN).exists()
