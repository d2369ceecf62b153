"""load_facts against the database: what it reads, from which tubes, in how many queries;
and evaluate_preparations end to end."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assays.compliance.engine import evaluate_preparations
from assays.compliance.facts import load_facts
from samples import services as tube_services
from samples.choices import AliquotKind

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("builtin_rules")]

LOAD_QUERIES = 10  # preparations, steps, tube tree, seven kinds of measurement


def test_facts_of_a_preparation(sec_protocol, input_tube, run_on, box, measure, study):
    study.purity_min_particles_per_ug = 2e9
    study.max_freeze_thaw_cycles = 3
    study.save()
    prep = run_on(
        sec_protocol,
        input_tube,
        output={"author_term": "exosomes", "fraction": "7-9", "box": box},
        step_actuals={"2": {"fractions_pooled": [7, 8]}},
        deviations="Fraction 9 was lost.",
    )[0]
    tube = prep.aliquot
    for kind in ("particles", "protein", "marker", "imaging", "flow", "dls", "qpcr"):
        measure(tube, kind)

    facts = load_facts([prep.pk])[prep.pk]

    p = facts.preparation
    assert (p.id, p.aliquot_id, p.accession) == (prep.pk, tube.pk, tube.accession)
    assert (p.nomenclature_term, p.author_term, p.fraction) == ("small_EV", "exosomes", "7-9")
    assert p.resuspension_volume_ml == pytest.approx(0.1)
    assert (p.study_code, p.compliance_profile) == (study.code, "MISEV2018")
    assert (p.purity_min_particles_per_ug, p.max_freeze_thaw_cycles) == (2e9, 3)
    run = facts.run
    assert (run.protocol_name, run.version_label, run.version_id) == (
        "SEC qEV",
        "v1",
        sec_protocol.pk,
    )
    assert [(s.order, s.kind) for s in run.steps] == [
        (1, "differential_centrifugation"),
        (2, "sec"),
    ]
    assert run.steps[1].params["fractions_pooled"] == [7, 8]  # the run's actual value
    assert run.steps[1].params["column"] == "qEV original 70 nm"
    assert run.has_actuals and run.deviations == "Fraction 9 was lost."
    assert run.input_volume_ml == pytest.approx(0.5)
    assert (run.input_aliquot_id, run.input_freeze_thaw_count) == (input_tube.pk, 0)
    assert facts.sample.fluid_type == "plasma"
    assert facts.sample.fields["tube_type"] == "k2_edta"
    assert facts.sample.fields["residual_platelets_per_ml"] is None
    assert facts.sample.sprec_code.startswith("PL2-")
    assert facts.storage.temperature_c == -80  # the freezer's: the box sets none
    assert len(facts.particles) == len(facts.protein) == len(facts.markers) == 1
    assert facts.markers[0].symbol == "CD63" and facts.markers[0].category == "1a"
    assert facts.imaging[0].views == frozenset({"wide_field", "close_up"})
    assert facts.imaging[0].image_count == 2
    assert facts.flow[0].control_kinds == frozenset({"buffer_only", "isotype", "detergent"})
    assert facts.dls[0].z_average_nm == 140.0
    assert facts.qpcr[0].target == "miR-21"
    assert facts.particles[0].evidence.url_name == "assays:particle-detail"
    assert tube.accession in facts.particles[0].label


def test_ultracentrifugation_step_carries_the_rotor(uc_protocol, input_tube, run_on):
    prep = run_on(uc_protocol, input_tube)[0]
    step = load_facts([prep.pk])[prep.pk].run.steps[1]
    assert step.params["rotor"] == "SW 41 Ti"
    assert step.params["rotor_type"] == "swinging_bucket"
    # k at 38,000 rpm on a rotor of k 124 at 41,000 rpm: 124 × (41/38)² ≈ 144.4
    assert step.params["k_factor"] == pytest.approx(144.4, abs=0.1)
    assert step.params["g_force"] > 100_000  # computed from rpm when the protocol was saved


def test_measurements_of_tubes_made_from_the_preparation_count(
    sec_protocol, input_tube, run_on, measure, members
):
    prep = run_on(sec_protocol, input_tube)[0]
    tube = prep.aliquot
    split = tube_services.split_into_aliquots(
        source=tube, volumes_ml=[Decimal("0.02")], user=members["editor"]
    )[0]
    lysate = tube_services.create_derived_tubes(
        parent=split,
        outputs=[tube_services.DerivedTube(volume_ml=Decimal("0.05"))],
        user=members["editor"],
        kind=AliquotKind.DERIVATIVE,
    )[0]
    # A second preparation made from this one reports for itself.
    second = run_on(sec_protocol, tube, volume="0.02")[0]
    on_prep = measure(tube, "particles")
    on_split = measure(split, "protein", concentration_ug_per_ml=0.6)
    on_lysate = measure(lysate, "marker", symbol="TSG101")
    lysate_protein = measure(lysate, "protein", concentration_ug_per_ml=900.0)
    on_second = measure(second.aliquot, "particles", concentration_per_ml=1e9)

    facts = load_facts([prep.pk, second.pk])
    mine = facts[prep.pk]
    assert [x.id for x in mine.particles] == [on_prep.pk]
    assert {x.id: x.same_material for x in mine.protein} == {
        on_split.pk: True,
        lysate_protein.pk: False,
    }
    assert [x.id for x in mine.markers] == [on_lysate.pk]
    assert [x.id for x in facts[second.pk].particles] == [on_second.pk]

    report = evaluate_preparations([prep.pk])[prep.pk]
    # Particles of the preparation over protein of its aliquot; the lysate is not the same material.
    assert report.purity.particles_per_ug == pytest.approx(3e10 / 0.6)
    assert report.purity.protein_measurement_id == on_split.pk


def test_fixed_number_of_queries(
    sec_protocol, input_tube, run_on, measure, django_assert_max_num_queries
):
    preps = run_on(sec_protocol, input_tube, outputs=20)
    for prep in preps:
        for kind in ("particles", "protein", "marker", "imaging"):
            measure(prep.aliquot, kind)
    with django_assert_max_num_queries(LOAD_QUERIES):
        one = load_facts([preps[0].pk])
    with django_assert_max_num_queries(LOAD_QUERIES):
        twenty = load_facts([p.pk for p in preps])
    assert len(one) == 1 and len(twenty) == 20
    assert all(len(f.markers) == 1 and len(f.imaging) == 1 for f in twenty.values())
    with django_assert_max_num_queries(LOAD_QUERIES + 1):  # + the rules
        reports = evaluate_preparations([p.pk for p in preps])
    assert len(reports) == 20


def test_unknown_and_empty_ids(sec_protocol, input_tube, run_on, django_assert_num_queries):
    prep = run_on(sec_protocol, input_tube)[0]
    with django_assert_num_queries(0):
        assert load_facts([]) == {}
    assert set(load_facts([prep.pk, 987654])) == {prep.pk}


def test_evaluate_preparations_uses_the_study_profile(
    sec_protocol, input_tube, run_on, measure, study
):
    prep = run_on(sec_protocol, input_tube)[0]
    measure(prep.aliquot, "particles")
    report = evaluate_preparations([prep.pk])[prep.pk]
    assert report.profile == "MISEV2018"
    assert report.result("CH-10") is None
    # A measured particle count but no protein: the ratio is the first thing to add.
    assert report.result("CH-02").status == "fail"
    assert report.recovery_particles_per_ml_input == pytest.approx(3e10 * 0.1 / 0.5)

    study.compliance_profile = "MISEV2023"
    study.save()
    assert evaluate_preparations([prep.pk])[prep.pk].profile == "MISEV2023"
    override = evaluate_preparations([prep.pk], profile="MISEV2018")[prep.pk]
    assert override.profile == "MISEV2018"
    with pytest.raises(ValueError, match="profile"):
        evaluate_preparations([prep.pk], profile="MISEV2014")


def test_evidence_labels_read_choice_labels_not_stored_codes(
    sec_protocol, input_tube, run_on, measure
):
    """Walkthrough: "Protein (micro_bca)" and "(western blot)" became the forms' labels."""
    prep = run_on(sec_protocol, input_tube)[0]
    tube = prep.aliquot
    for kind in ("protein", "marker", "imaging"):
        measure(tube, kind)
    facts = load_facts([prep.pk])[prep.pk]
    assert facts.protein[0].label.startswith("Protein (Micro-BCA) of ")
    assert facts.markers[0].label == f"CD63 detected (Western blot) in {tube.accession}"
    assert facts.imaging[0].label.startswith(f"TEM (negative stain) of {tube.accession}")
