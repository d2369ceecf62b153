"""EV-TRACK export: the record from facts and the engine's report, the JSON and CSV
endpoints (round trip, formula guard), SPREC per tube of the lineage, and scoping."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assays.compliance.engine import RuleSpec, evaluate
from assays.compliance.facts import (
    ImagingFact,
    MarkerFact,
    ParticleFact,
    PreparationFacts,
    PreparationInfo,
    RunInfo,
    SampleInfo,
    StepFact,
)
from assays.evtrack import (
    EVTRACK_FORMAT,
    EVTrackContext,
    evtrack_record,
    evtrack_records,
    flatten_record,
)
from assays.models import EVPreparation
from samples import services as tube_services
from samples.models import Aliquot

from .conftest import RRID

pytestmark = pytest.mark.django_db

EV_METRIC_RULES = [
    RuleSpec(
        code="EVM-EV",
        title="EV-enriched proteins",
        severity="warning",
        check_name="marker_reported",
        profiles=("EV-METRIC",),
        params={"categories": ["1a", "1b", "2a"], "min": 1},
    ),
    RuleSpec(
        code="EVM-NONEV",
        title="Non-EV proteins",
        severity="warning",
        check_name="marker_reported",
        profiles=("EV-METRIC",),
        params={"categories": ["3", "4"], "min": 1},
    ),
    RuleSpec(
        code="EVM-CYTO",
        title="Cytosolic EV proteins detected",
        severity="warning",
        check_name="marker_detected",
        profiles=("EV-METRIC",),
        params={"categories": ["2a"], "min": 1},
    ),
]


def hand_built_facts() -> PreparationFacts:
    return PreparationFacts(
        preparation=PreparationInfo(
            id=7,
            aliquot_id=70,
            accession="EXO-000070",
            nomenclature_term="small_EV",
            author_term="exosomes",
            resuspension_volume_ml=0.1,
            study_code="PLASMA-01",
        ),
        run=RunInfo(
            id=3,
            protocol_name="dUC + SEC",
            version_label="v2",
            version_id=5,
            input_volume_ml=1.0,
            steps=(
                StepFact(1, "differential_centrifugation", "", {"g_force": 2000.0}),
                StepFact(
                    2,
                    "ultracentrifugation",
                    "Pellet",
                    {"g_force": 100000.0, "rotor": "Type 70 Ti", "k_factor": 158.4},
                ),
                StepFact(3, "sec", "", {"column": "qEV", "fractions_pooled": [7, 8, 9]}),
            ),
        ),
        sample=SampleInfo(
            id=1,
            accession="EXO-000001",
            fluid_type="plasma",
            sprec_code="PL2-PED-A-A-A-B-D",
            fields={"tube_type": "k2_edta", "storage_temp_c": -80.0},
        ),
        markers=(
            MarkerFact(
                id=11,
                aliquot_id=70,
                symbol="CD63",
                category="1a",
                detection="detected",
                method="western_blot",
                antibody_rrid=RRID,
                antibody_dilution="1:1000",
            ),
            MarkerFact(
                id=12,
                aliquot_id=70,
                symbol="APOA1",
                category="3",
                detection="not_detected",
                method="western_blot",
            ),
        ),
        particles=(ParticleFact(id=21, aliquot_id=70, method="NTA", concentration_per_ml=3e10),),
        imaging=(ImagingFact(id=31, aliquot_id=70, method="tem", views=frozenset({"close_up"})),),
    )


def test_record_from_facts_and_report():
    facts = hand_built_facts()
    report = evaluate(facts, EV_METRIC_RULES)
    record = evtrack_record(facts, report, EVTrackContext(species="NCBITaxon:9606"))
    assert record["format"] == EVTRACK_FORMAT
    assert record["species"] == {"id": "NCBITaxon:9606", "label": "Homo sapiens (human)"}
    assert record["sample_type"] == {
        "fluid_type": "plasma",
        "label": "Blood plasma",
        "uberon": "UBERON:0001969",
    }
    separation = record["separation"]
    assert separation["methods"] == ["dUC", "SEC"]  # the low-speed spin only pre-clears
    assert [s["role"] for s in separation["steps"]] == [
        "pre-processing",
        "separation",
        "separation",
    ]
    assert separation["steps"][1]["parameters"] == {
        "g_force": 100000.0,
        "rotor": "Type 70 Ti",
        "k_factor": 158.4,
    }
    assert separation["steps"][2]["parameters"]["fractions_pooled"] == [7, 8, 9]
    markers = record["characterisation"]["protein_markers"]
    assert [m["symbol"] for m in markers["positive"]] == ["CD63"]
    assert markers["positive"][0]["antibody"]["rrid"] == RRID
    assert [(m["symbol"], m["detection"]) for m in markers["negative"]] == [
        ("APOA1", "not_detected")
    ]
    assert record["characterisation"]["particle_analysis"][0]["concentration_per_ml"] == 3e10
    assert record["characterisation"]["electron_microscopy"][0]["views"] == ["close_up"]
    metric = record["ev_metric"]
    assert (metric["fulfilled"], metric["applicable"]) == (2, 3)
    assert metric["score_pct"] == pytest.approx(200 / 3)
    assert metric["missing"] == ["EVM-CYTO"]
    assert {c["code"]: c["status"] for c in metric["components"]} == {
        "EVM-EV": "pass",
        "EVM-NONEV": "pass",
        "EVM-CYTO": "fail",
    }
    # Pure and JSON-ready: the same input gives the same record, and JSON gives it back.
    assert evtrack_record(facts, report, EVTrackContext(species="NCBITaxon:9606")) == record
    assert json.loads(json.dumps(record)) == record


def test_record_without_report_or_context():
    record = evtrack_record(hand_built_facts())
    assert record["ev_metric"] is None
    assert record["species"] == {"id": "", "label": ""}
    assert record["characterisation"]["quantification"]["particles_per_ug_protein"] is None
    assert [row["relation"] for row in record["lineage"]] == ["sample"]


def test_flatten_numbers_list_items_and_keeps_empty_fields():
    rows = dict(flatten_record({"a": {"b": [1, {"c": "x"}]}, "d": [], "e": None}))
    assert rows == {"a.b.1": 1, "a.b.2.c": "x", "d": "", "e": None}


# --- Endpoints ---------------------------------------------------------------------------


def test_json_endpoint_round_trips_to_the_record(run_on, tubes, characterise, page_client):
    prep = characterise(run_on(tubes[0]), concentration=3e10, ug_per_ml=10.0)
    response = page_client("viewer").get(reverse("assays:evtrack-json", args=[prep.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    parsed = json.loads(response.content)
    record = evtrack_records([prep.pk])[prep.pk]
    assert parsed == record
    assert parsed["species"]["id"] == "NCBITaxon:9606"
    assert parsed["separation"]["methods"] == ["dUC"]
    uc = parsed["separation"]["steps"][1]
    assert uc["parameters"]["g_force"] == 100000
    assert uc["parameters"]["rotor"] == "Type 70 Ti"
    quantification = parsed["characterisation"]["quantification"]
    assert quantification["particles_per_ug_protein"] == pytest.approx(3e9)
    # 3e10/mL × 0.1 mL from 1 mL of plasma.
    assert quantification["particles_per_ml_input"] == pytest.approx(3e9)
    assert parsed["ev_metric"]["applicable"] >= 1  # the built-in EV-METRIC rules
    download = page_client("viewer").get(
        reverse("assays:evtrack-json", args=[prep.pk]), {"download": 1}
    )
    assert "attachment" in download["Content-Disposition"]


def test_csv_has_one_row_per_field_and_guards_formulas(run_on, tubes, page_client):
    prep = run_on(
        tubes[0],
        outputs=[
            {
                "nomenclature_term": "EV",
                "author_term": '=HYPERLINK("http://evil.example","x")',
                "volume_ml": "0.1",
            }
        ],
    )
    response = page_client("viewer").get(reverse("assays:evtrack-csv", args=[prep.pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["field", "value"]
    values = dict(rows[1:])
    assert len(values) == len(rows) - 1  # every field once
    record = evtrack_records([prep.pk])[prep.pk]
    expected = flatten_record(record)
    assert list(values) == [name for name, _ in expected]
    assert values["experiment.author_term"] == "'" + '=HYPERLINK("http://evil.example","x")'
    for name, value in expected:
        if name == "experiment.author_term":
            continue
        if value is None or isinstance(value, bool):
            shown = "" if value is None else str(value).lower()
        else:
            shown = str(value)
        assert values[name] == shown, name
    assert values["separation.steps.2.parameters.g_force"] == "100000.0"
    assert values["sample_type.uberon"] == "UBERON:0001969"
    assert values["storage.temperature_c"] == ""  # not in a box: empty, not "None"


def test_sprec_code_of_every_tube_in_the_lineage(run_on, tubes, members):
    input_tube = tubes[0]
    prep = run_on(input_tube)
    prep_tube = prep.aliquot
    first, second = tube_services.split_into_aliquots(
        source=prep_tube, volumes_ml=[Decimal("0.02"), Decimal("0.02")], user=members["editor"]
    )
    (lysate,) = tube_services.split_into_aliquots(
        source=first, volumes_ml=[Decimal("0.01")], user=members["editor"], kind="derivative"
    )
    Aliquot.objects.filter(pk=input_tube.pk).update(freeze_thaw_count=1)
    Aliquot.objects.filter(pk=second.pk).update(freeze_thaw_count=2)
    code = prep_tube.sample.sprec_code
    assert code.count("-") == 6

    lineage = evtrack_records([prep.pk])[prep.pk]["lineage"]
    by_accession = {row["accession"]: row for row in lineage}
    assert [row["relation"] for row in lineage] == [
        "sample",
        "ancestor",
        "preparation",
        "descendant",
        "descendant",
        "descendant",
    ]
    assert set(by_accession) == {
        prep_tube.sample.accession,
        input_tube.accession,
        prep_tube.accession,
        first.accession,
        second.accession,
        lysate.accession,
    }
    assert all(row["sprec_code"] == code for row in lineage)
    assert by_accession[input_tube.accession]["sprec_code_with_freeze_thaw"] == f"{code}-1"
    assert by_accession[second.accession]["sprec_code_with_freeze_thaw"] == f"{code}-2"
    assert by_accession[lysate.accession]["type"] == "derivative"
    assert by_accession[lysate.accession]["depth"] == 2
    # The other tubes split from the same sample are not this preparation's lineage.
    assert tubes[1].accession not in by_accession


def test_endpoints_are_scoped_and_unknown_ids_not_found(
    run_on, tubes, foreign_preparation, page_client
):
    mine = run_on(tubes[0])
    missing = EVPreparation.objects.order_by("-pk").first().pk + 100
    for name in ("assays:evtrack-json", "assays:evtrack-csv"):
        viewer = page_client("viewer")
        assert viewer.get(reverse(name, args=[mine.pk])).status_code == 200
        assert viewer.get(reverse(name, args=[foreign_preparation.pk])).status_code == 404
        assert viewer.get(reverse(name, args=[missing])).status_code == 404
        assert page_client("outsider").get(reverse(name, args=[mine.pk])).status_code == 404


def test_records_cost_the_same_queries_for_one_or_many(run_on, tubes, characterise):
    preps = [characterise(run_on(tubes[0]))]
    with CaptureQueriesContext(connection) as one:
        evtrack_records([p.pk for p in preps])
    preps += [characterise(run_on(tube, "0.5")) for tube in tubes[1:5]]
    with CaptureQueriesContext(connection) as many:
        records = evtrack_records([p.pk for p in preps])
    assert len(many) == len(one)
    assert set(records) == {p.pk for p in preps}
