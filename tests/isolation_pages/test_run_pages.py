"""Recording a run from a published protocol version through the page, the run page, the
run list and the comparison page: scoping (404 / 403), and nothing saved on any refusal."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from assays.models import EVPreparation, IsolationRun, RunInput
from samples.models import Aliquot

pytestmark = pytest.mark.django_db


def run_post(*, inputs, outputs, **fields) -> dict:
    when = (timezone.localtime() - timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    data = {
        "operator": fields.pop("operator"),
        "started_at": fields.pop("started_at", when),
        "ended_at": fields.pop("ended_at", ""),
        "deviations": fields.pop("deviations", ""),
        "notes": "",
        "inputs-TOTAL_FORMS": str(len(inputs)),
        "inputs-INITIAL_FORMS": "0",
        "inputs-MIN_NUM_FORMS": "0",
        "inputs-MAX_NUM_FORMS": "1000",
        "outputs-TOTAL_FORMS": str(len(outputs)),
        "outputs-INITIAL_FORMS": "0",
        "outputs-MIN_NUM_FORMS": "0",
        "outputs-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(inputs):
        data.update({f"inputs-{i}-{k}": v for k, v in {"volume_unit": "mL", **row}.items()})
    for i, row in enumerate(outputs):
        defaults = {"volume_unit": "µL", "container_type": "lobind_1_5ml"}
        data.update({f"outputs-{i}-{k}": v for k, v in {**defaults, **row}.items()})
    data.update(fields)
    return data


def nothing_saved(tube: Aliquot, remaining: Decimal) -> None:
    assert not IsolationRun.objects.exists()
    assert not RunInput.objects.exists()
    assert not EVPreparation.objects.exists()
    assert not Aliquot.objects.filter(kind="ev_preparation").exists()
    tube.refresh_from_db()
    assert tube.remaining_volume_ml == remaining


OUTPUT = {"nomenclature_term": "small_EV", "author_term": "exosomes", "volume": "100"}


def test_form_is_prefilled_from_the_version(page_client, published, members):
    response = page_client("editor").get(reverse("assays:run-create", args=[published.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Pellet EVs" in html and "38,000 rpm" in html
    assert response.context["form"].initial["operator"] == members["editor"].pk
    assert 'name="step2-p_rpm"' in html  # actual values only where they differ


@pytest.mark.parametrize("role", ["viewer", "outsider"])
def test_recording_needs_the_editor_role_somewhere(page_client, published, role):
    url = reverse("assays:run-create", args=[published.pk])
    assert page_client(role).get(url).status_code == 403
    assert page_client(role).post(url, {}).status_code == 403


def test_record_a_run(page_client, published, input_tube, members, box):
    data = run_post(
        operator=members["manager"].pk,
        inputs=[{"accession": input_tube.accession.lower(), "volume": "1,5"}],
        outputs=[
            {
                **OUTPUT,
                "fraction": "pellet",
                "resuspension_buffer": "PBS",
                "box": box.pk,
                "position": "A1",
            },
            {"nomenclature_term": "EP", "volume": "50"},
        ],
        deviations="Spun at 35k",
        **{"step2-p_rpm": "35000", "step1-p_duration_min": "10"},
    )
    response = page_client("editor").post(reverse("assays:run-create", args=[published.pk]), data)
    assert response.status_code == 302
    run = IsolationRun.objects.get()
    assert response["Location"] == run.get_absolute_url()
    assert run.operator == members["manager"] and run.created_by == members["editor"]
    assert run.deviations == "Spun at 35k"
    # Only what differed: 10 min was the plan for step 1; rpm 35,000 (and its force) differs.
    assert set(run.step_actuals) == {"2"}
    assert run.step_actuals["2"]["rpm"] == 35000
    input_tube.refresh_from_db()
    assert input_tube.remaining_volume_ml == Decimal("2.5")
    preps = list(run.preparations.select_related("aliquot").order_by("id"))
    assert [p.nomenclature_term for p in preps] == ["small_EV", "EP"]
    assert preps[0].resuspension_volume_ml == Decimal("0.1")
    assert preps[0].aliquot.parent == input_tube and preps[0].aliquot.kind == "ev_preparation"
    assert preps[0].aliquot.box == box and preps[0].aliquot.position == "A1"

    page = page_client("viewer").get(run.get_absolute_url()).content.decode()
    for prep in preps:
        assert prep.aliquot.accession in page
    assert input_tube.accession in page
    assert "Small EVs" in page and "exosomes" in page
    assert "35,000" in page  # actual vs planned
    assert "170.2" in page or "k adjusted" in page


def test_short_volume_saves_nothing(page_client, published, input_tube, members):
    data = run_post(
        operator=members["editor"].pk,
        inputs=[{"accession": input_tube.accession, "volume": "5"}],
        outputs=[OUTPUT],
    )
    response = page_client("editor").post(reverse("assays:run-create", args=[published.pk]), data)
    assert response.status_code == 400
    errors = response.context["inputs"].forms[0].errors["volume"]
    assert "Only 4 mL left" in " ".join(errors)
    assert "nothing was saved" in response.content.decode()
    nothing_saved(input_tube, Decimal("4.0"))


def test_unpublished_version_cannot_be_run(page_client, draft, input_tube, members):
    url = reverse("assays:run-create", args=[draft.pk])
    page = page_client("editor").get(url).content.decode()
    assert "only published versions can be run" in page
    data = run_post(
        operator=members["editor"].pk,
        inputs=[{"accession": input_tube.accession, "volume": "1"}],
        outputs=[OUTPUT],
    )
    response = page_client("editor").post(url, data)
    assert response.status_code == 400
    assert "only published versions can be run" in response.content.decode()
    nothing_saved(input_tube, Decimal("4.0"))


def test_bad_actual_value_names_the_parameter_and_saves_nothing(
    page_client, published, input_tube, members
):
    data = run_post(
        operator=members["editor"].pk,
        inputs=[{"accession": input_tube.accession, "volume": "1"}],
        outputs=[OUTPUT],
        **{"step2-p_rpm": "90000"},
    )
    response = page_client("editor").post(reverse("assays:run-create", args=[published.pk]), data)
    assert response.status_code == 400
    step2 = response.context["actual_forms"][1]
    assert "41,000 rpm" in " ".join(step2.errors["p_rpm"])
    nothing_saved(input_tube, Decimal("4.0"))


def test_unknown_foreign_and_missing_tubes(
    page_client, published, input_tube, foreign_tube, members
):
    url = reverse("assays:run-create", args=[published.pk])
    client = page_client("editor")
    data = run_post(
        operator=members["editor"].pk,
        inputs=[
            {"accession": foreign_tube.accession, "volume": "1"},
            {"accession": "EXO-999999", "volume": "1"},
        ],
        outputs=[OUTPUT],
    )
    response = client.post(url, data)
    assert response.status_code == 400
    forms = response.context["inputs"].forms
    # A tube of a study the user cannot see is "not found", like any unknown accession.
    assert f"No tube {foreign_tube.accession} in your studies" in forms[0].errors["accession"][0]
    assert "No tube EXO-999999" in forms[1].errors["accession"][0]

    response = client.post(
        url, run_post(operator=members["editor"].pk, inputs=[], outputs=[OUTPUT])
    )
    assert "Give at least one input tube" in response.content.decode()
    response = client.post(
        url,
        run_post(
            operator=members["editor"].pk,
            inputs=[{"accession": input_tube.accession, "volume": "1"}],
            outputs=[],
        ),
    )
    assert "Record at least one EV preparation" in response.content.decode()
    nothing_saved(input_tube, Decimal("4.0"))


def test_tube_of_a_study_where_the_user_only_views(page_client, published, foreign_tube, members):
    from samples.models import StudyMembership

    StudyMembership.objects.create(study=foreign_tube.study, user=members["editor"], role="viewer")
    data = run_post(
        operator=members["editor"].pk,
        inputs=[{"accession": foreign_tube.accession, "volume": "1"}],
        outputs=[OUTPUT],
    )
    response = page_client("editor").post(reverse("assays:run-create", args=[published.pk]), data)
    assert response.status_code == 400
    assert "editor role in study URINE-02" in response.content.decode()
    assert not IsolationRun.objects.exists()


def test_end_before_start_and_two_inputs_without_source(
    page_client, published, input_tube, members, make_sample
):
    from samples import services as tube_services

    second = tube_services.split_into_aliquots(
        source=make_sample(), volumes_ml=[Decimal("1")], user=members["editor"]
    )[0]
    start = timezone.localtime() - timedelta(hours=2)
    data = run_post(
        operator=members["editor"].pk,
        started_at=start.strftime("%Y-%m-%dT%H:%M"),
        ended_at=(start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        inputs=[
            {"accession": input_tube.accession, "volume": "1"},
            {"accession": second.accession, "volume": "0.5"},
        ],
        outputs=[OUTPUT],
    )
    url = reverse("assays:run-create", args=[published.pk])
    response = page_client("editor").post(url, data)
    assert "cannot end before it started" in response.content.decode()
    data["ended_at"] = ""
    response = page_client("editor").post(url, data)
    assert response.status_code == 400
    assert "say which input tube it came from" in response.content.decode()
    data["outputs-0-source"] = second.accession
    assert page_client("editor").post(url, data).status_code == 302
    prep = EVPreparation.objects.select_related("aliquot").get()
    assert prep.aliquot.parent == second


def test_run_page_is_scoped(page_client, run_for, members):
    run = run_for()
    url = run.get_absolute_url()
    assert page_client("viewer").get(url).status_code == 200
    assert page_client("outsider").get(url).status_code == 404
    history = page_client("viewer").get(reverse("assays:run-history", args=[run.pk]))
    assert history.status_code == 200
    assert "created" in history.content.decode()
    assert (
        page_client("outsider").get(reverse("assays:run-history", args=[run.pk])).status_code == 404
    )


def test_run_of_another_study_is_not_found(page_client, published, foreign_tube, librarian):
    from assays import services
    from samples.models import StudyMembership

    owner = StudyMembership.objects.get(study=foreign_tube.study).user
    run = services.record_isolation_run(
        version=published,
        inputs=[(foreign_tube, Decimal("1"))],
        outputs=[{"nomenclature_term": "EV", "volume_ml": "0.1"}],
        user=owner,
        started_at=timezone.now() - timedelta(hours=1),
    )
    assert page_client("manager").get(run.get_absolute_url()).status_code == 404
    html = page_client("manager").get(reverse("assays:run-list")).content.decode()
    assert f"Run {run.pk}<" not in html


def test_run_list_filters(page_client, run_for, published, members, started):
    early = run_for(started_at=started - timedelta(days=30), ended_at=None)
    late = run_for(operator=members["manager"])
    client = page_client("viewer")
    url = reverse("assays:run-list")
    html = client.get(url).content.decode()
    assert f"Run {early.pk}<" in html and f"Run {late.pk}<" in html
    html = client.get(url, {"operator": members["manager"].pk}).content.decode()
    assert f"Run {late.pk}<" in html and f"Run {early.pk}<" not in html
    day = (started - timedelta(days=10)).date().isoformat()
    html = client.get(url, {"started_to": day}).content.decode()
    assert f"Run {early.pk}<" in html and f"Run {late.pk}<" not in html
    html = client.get(
        url, {"protocol": published.protocol_id, "study": late.study_id}
    ).content.decode()
    assert f"Run {late.pk}<" in html
    accession = late.preparations.get().aliquot.accession
    html = client.get(url, {"tube": accession}).content.decode()
    assert f"Run {late.pk}<" in html and f"Run {early.pk}<" not in html
    assert page_client("outsider").get(url).context["page"].total == 0


def test_compare_counts_runs_and_says_no_characterisation(page_client, run_for, published):
    run_for()
    response = page_client("viewer").get(
        reverse("assays:compare"), {"protocols": published.protocol_id, "versions": published.pk}
    )
    columns = response.context["columns"]
    assert [c.runs for c in columns] == [1, 1]
    assert columns[0].input_total_ml == Decimal("1")
    assert columns[0].terms == [("Small EVs", 1)]
    html = response.content.decode()
    assert "no characterisation yet" in html
    # Runs of studies the user cannot see are not counted.
    outsider = page_client("outsider").get(
        reverse("assays:compare"), {"protocols": published.protocol_id}
    )
    assert outsider.context["columns"][0].runs == 0


def test_without_script_add_rows_re_renders_and_saves_nothing(
    page_client, published, input_tube, members
):
    data = run_post(
        operator=members["editor"].pk,
        inputs=[{"accession": input_tube.accession, "volume": "1"}],
        outputs=[OUTPUT],
        _add_input="1",
    )
    response = page_client("editor").post(reverse("assays:run-create", args=[published.pk]), data)
    assert response.status_code == 200
    assert response.context["inputs"].total_form_count() == 2
    assert f'value="{input_tube.accession}"' in response.content.decode()
    nothing_saved(input_tube, Decimal("4.0"))
