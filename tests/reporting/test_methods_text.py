"""The methods text: the values actually used, grouped with ranges for many preparations,
and the pages that show it (copyable, downloadable, scoped to the user's studies)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from assays.compliance.facts import PreparationFacts, PreparationInfo, RunInfo, SampleInfo
from assays.methods_text import (
    NO_PREPARATIONS,
    compose_methods,
    format_minutes,
    format_range,
    format_volume,
    methods_paragraph,
    step_phrase,
    study_methods,
)
from assays.models import EVPreparation
from assays.steps import all_schemas
from samples.models import Study

from .conftest import RRID

pytestmark = pytest.mark.django_db


def uc_sentence(text: str) -> str:
    """The ultracentrifugation step of the isolation paragraph."""
    start = text.index("ultracentrifugation at")
    return text[start : text.index(".", text.index("rotor", start))]


def test_preparation_text_names_the_parameters_actually_used(run_on, tubes, characterise):
    prep = characterise(run_on(tubes[0], "1.0"))
    text = methods_paragraph([prep.pk])
    assert text.count("\n\n") == 2  # samples, isolation, characterisation
    # Sample and pre-analytics (tests/conftest.py sample_kwargs).
    assert "1 blood plasma sample from 1 donor (Homo sapiens)" in text
    assert "Blood was collected into K2-EDTA tubes" in text
    assert "Time from collection to processing was 45 min at 21 °C" in text
    assert (
        "Plasma was prepared by two centrifugation steps: 2,500 ×g for 15 min at 20 °C "
        "without brake; then 2,500 ×g for 15 min at 20 °C without brake"
    ) in text
    assert "stored at \u221280 °C" in text
    assert f"SPREC code {prep.aliquot.sample.sprec_code}" in text
    # Isolation: protocol, each step with ×g, rotor, k-factor, time, temperature.
    assert 'with the protocol "dUC 100k" v1' in text
    assert "from 1 mL of blood plasma" in text
    assert (
        "(1) low-speed / differential centrifugation at 2,000 ×g (average RCF) for 10 min" in text
    )
    uc = uc_sentence(text)
    assert "ultracentrifugation at 100,000 ×g (average RCF)" in uc
    assert "in a Type 70 Ti rotor (fixed-angle, k-factor 158)" in uc
    assert "for 70 min at 4 °C with brake" in text
    assert "pellet resuspended in 100 µL of PBS" in text
    assert "small EVs (MISEV2023 nomenclature; authors' term: “exosomes”)" in text
    # Characterisation methods and settings.
    assert "NTA (NanoSight) on a NanoSight NS300 (NTA-1), software NTA 3.4.4" in text
    assert "camera level 14, detection threshold 5, 5 videos per sample, dilution 1:100" in text
    assert "Protein was quantified by BCA" in text
    assert "standard curve: 4-parameter logistic" in text
    assert f"RRID:{RRID}" in text and "RRID:AB_2208088" in text
    assert "clone H5C6, BD Biosciences, cat. no. 556019" in text
    assert "1:1000" in text and "lysis buffer RIPA + protease inhibitors" in text
    assert "10 µg protein loaded" in text and "non-reducing conditions" in text
    assert "CD63 [EV marker]" in text and "APOA1 [purity marker]" in text
    assert "not detected" in text[text.index("APOA1") :]
    assert "TEM (negative stain)" in text and "stained with 2% uranyl acetate" in text
    assert "magnification 30,000×, 100,000×" in text
    assert "wide-field and close-up images" in text
    assert "scatter limit of detection 80 nm" in text
    assert "fluorescence limit of detection 25 MESF" in text
    assert "had not been frozen and thawed before isolation" in text
    assert "sizes measured on 120 vesicles" in text
    assert "MIFlowCyt-EV" in text and "cytometer CytoFLEX S" in text
    assert "assumed EV refractive index 1.4" in text and "MESF" in text
    assert "controls: buffer only, detergent lysis and isotype control" in text


def test_run_values_and_deviations_replace_the_protocol(run_on, tubes):
    prep = run_on(
        tubes[0],
        step_actuals={"2": {"duration_min": 90, "temperature_c": 8}},
        deviations="Rotor ran 20 min longer (centrifuge fault).",
    )
    text = methods_paragraph([prep.pk])
    uc = uc_sentence(text) + text[text.index("for 90 min") : text.index("for 90 min") + 30]
    assert "for 90 min at 8 °C" in uc
    assert "70 min" not in text and "4 °C with brake" not in text
    assert "a run differed from the protocol" in text
    assert f"run {prep.run_id}: Rotor ran 20 min longer (centrifuge fault)" in text


def test_study_gives_one_text_with_ranges(run_on, tubes, characterise, study):
    preps = [
        run_on(tubes[0], "0.5"),
        run_on(tubes[1], "0.75", step_actuals={"2": {"g_force": 110000}}),
        run_on(tubes[2], "1.0"),
    ]
    for prep in preps:
        characterise(prep)
    text = study_methods(study)
    assert text == methods_paragraph([p.pk for p in preps])
    assert text.count("\n\n") == 2
    assert "EV preparations (n = 3)" in text
    assert text.count("EVs were separated") == 1
    assert "from 0.5–1.0 mL of blood plasma" in text
    assert "(n = 3 preparations from 3 runs)" in text
    assert "ultracentrifugation at 100,000–110,000 ×g" in text
    assert "k-factor 144–158" in text  # k at the speed each run used
    assert text.count("particle concentration and size were measured") == 0  # capitalised
    assert text.count("Particle concentration and size were measured") == 1
    assert "(n = 3 measurements)" in text
    assert "detected in 3 of 3 preparations" in text
    assert "not detected in any of 3 preparations" in text


def test_study_of_several_protocols_describes_each(run_on, tubes, sec_protocol, study):
    run_on(tubes[0])
    run_on(tubes[1], version=sec_protocol)
    text = study_methods(study)
    assert text.count("EVs were separated") == 2
    assert (
        "size-exclusion chromatography on qEV original 70 nm, 500 µL loaded, 3 mL void "
        "discarded, 500 µL fractions collected, fractions 7, 8, 9 pooled, eluted with PBS"
    ) in text


def test_formatting_helpers():
    assert format_range([100000, 100000.0], "×g") == "100,000 ×g"
    assert format_range([0.5, 1], "mL") == "0.5–1.0 mL"
    assert format_range([-80, -70], "°C") == "\u221280 to \u221270 °C"
    assert format_range([4], "°C") == "4 °C"
    assert format_range([None, "x"], "mL") == ""
    assert format_range([2.5e6], "/mL") == "2.50 × 10⁶ /mL"
    assert format_volume([0.1]) == "100 µL"
    assert format_volume([0.5, 2]) == "0.5–2.0 mL"
    assert format_minutes([70]) == "70 min"
    assert format_minutes([1080]) == "18 h"
    assert format_minutes([90, 1080]) == "90–1,080 min"


def test_composed_without_records_says_so():
    facts = PreparationFacts(
        preparation=PreparationInfo(id=1, aliquot_id=1, accession="EXO-1", nomenclature_term="EV"),
        run=RunInfo(id=1, protocol_name="Kit", version_label="v2"),
        sample=SampleInfo(id=1, accession="S-1", fluid_type="urine"),
    )
    text = compose_methods([facts])
    assert "1 urine sample" in text
    assert "No characterisation of these preparations is recorded yet." in text
    assert compose_methods([]) == NO_PREPARATIONS
    assert methods_paragraph([]) == NO_PREPARATIONS


# --- Pages ---------------------------------------------------------------------------------


def test_preparation_page_shows_copyable_text_and_download(run_on, tubes, page_client):
    prep = run_on(tubes[0])
    url = reverse("assays:methods-preparation", args=[prep.pk])
    response = page_client("viewer").get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<textarea id="methods-text"' in html
    assert 'data-copy="#methods-text"' in html
    assert "100,000 ×g" in html
    assert reverse("assays:evtrack-json", args=[prep.pk]) in html
    download = page_client("viewer").get(url, {"format": "txt"})
    assert download["Content-Type"].startswith("text/plain")
    assert download["Content-Disposition"] == (
        f'attachment; filename="methods-{prep.aliquot.accession}.txt"'
    )
    assert download.content.decode().strip() == methods_paragraph([prep.pk])


def test_study_page_and_download(run_on, tubes, page_client, study):
    run_on(tubes[0])
    run_on(tubes[1], "0.5")
    url = reverse("assays:methods-study", args=[study.pk])
    html = page_client("viewer").get(url).content.decode()
    assert "2 EV preparations" in html
    assert "0.5–1.0 mL" in html
    text = page_client("viewer").get(url, {"format": "txt"}).content.decode()
    assert text.strip() == study_methods(study)


def test_study_without_preparations_says_so(page_client, study):
    url = reverse("assays:methods-study", args=[study.pk])
    html = page_client("viewer").get(url).content.decode()
    assert "has no EV preparations yet" in html
    assert "<textarea" not in html
    assert page_client("viewer").get(url, {"format": "txt"}).status_code == 404


def test_other_studies_and_unknown_ids_are_not_found(
    run_on, tubes, foreign_preparation, other_study, page_client
):
    mine = run_on(tubes[0])
    client = page_client("viewer")
    missing = EVPreparation.objects.order_by("-pk").first().pk + 100
    for name, pk in (
        ("assays:methods-preparation", foreign_preparation.pk),
        ("assays:methods-preparation", missing),
        ("assays:methods-study", other_study.pk),
        ("assays:methods-study", Study.objects.order_by("-pk").first().pk + 100),
    ):
        assert client.get(reverse(name, args=[pk])).status_code == 404, name
        assert client.get(reverse(name, args=[pk]), {"format": "txt"}).status_code == 404
    assert (
        page_client("outsider")
        .get(reverse("assays:methods-preparation", args=[mine.pk]))
        .status_code
        == 404
    )
    superuser = page_client("superuser")
    assert (
        superuser.get(
            reverse("assays:methods-preparation", args=[foreign_preparation.pk])
        ).status_code
        == 200
    )


def test_pages_need_a_login(client, run_on, tubes, study):
    prep = run_on(tubes[0])
    for url in (
        reverse("assays:methods-preparation", args=[prep.pk]),
        reverse("assays:methods-study", args=[study.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_queries_do_not_grow_with_preparations(run_on, tubes, characterise, study):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    characterise(run_on(tubes[0]))
    with CaptureQueriesContext(connection) as few:
        study_methods(study)
    for tube in tubes[1:5]:
        characterise(run_on(tube, str(Decimal("0.5"))))
    with CaptureQueriesContext(connection) as more:
        study_methods(study)
    assert len(more) == len(few)


def _example_value(param: dict):
    kind = param["type"]
    if kind in ("number", "int"):
        return (
            7
            if (param["max"] is None or param["max"] >= 7) and (param["min"] or 0) <= 7
            else param["min"]
        )
    if kind == "text":
        return f"T-{param['name']}"
    if kind == "choice":
        return param["choices"][-1]["value"]
    if kind == "bool":
        return False
    if kind == "list":
        return ["MALS", "UV"] if param["item_type"] == "text" else [7, 8]
    return {"cross-flow": "3 mL/min"}


@pytest.mark.parametrize("schema", all_schemas(), ids=lambda s: s["kind"])
def test_every_step_kind_says_every_recorded_value(schema):
    params = {p["name"]: _example_value(p) for p in schema["parameters"]}
    text = step_phrase(schema["kind"], [params])
    for name, value in params.items():
        if isinstance(value, str) and name not in ("g_basis",) and value.startswith("T-"):
            assert value in text, name
    if "extra" in params:
        assert "cross-flow 3 mL/min" in text
    if any(p["type"] in ("number", "int") for p in schema["parameters"]):
        assert "7" in text
