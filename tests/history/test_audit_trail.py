"""The audit trail is kept by database triggers: every path records who, what, old/new, why."""

import pytest
from django.db import connection, transaction
from django.db.utils import ProgrammingError

from exolims.history import history_for
from samples.models import Sample

pytestmark = pytest.mark.django_db


def test_api_change_records_user_old_new_and_reason(client_for, members, make_sample):
    sample = make_sample(notes="first")
    response = client_for("editor").patch(
        f"/api/v1/samples/{sample.pk}/",
        {"notes": "haemolysed, re-spun"},
        format="json",
        HTTP_X_CHANGE_REASON="Corrected after QC review",
    )
    assert response.status_code == 200, response.content
    history = client_for("viewer").get(f"/api/v1/samples/{sample.pk}/history/").json()
    latest = history[0]
    assert latest["action"] == "update"
    assert latest["username"] == members["editor"].username
    assert latest["reason"] == "Corrected after QC review"
    assert latest["changes"]["notes"] == {"old": "first", "new": "haemolysed, re-spun"}
    assert history[-1]["action"] == "insert"


def test_bulk_update_bypassing_the_orm_save_is_still_recorded(make_sample):
    sample = make_sample(notes="before")
    Sample.objects.filter(pk=sample.pk).update(notes="after")
    entries = history_for(sample)
    assert entries[0].changes["notes"] == ("before", "after")
    assert entries[0].username == "system"


def test_history_cannot_be_rewritten(make_sample):
    make_sample()
    with (
        pytest.raises(ProgrammingError, match="Cannot update or delete"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE samples_samplehistory SET notes = 'forged'")
    with (
        pytest.raises(ProgrammingError, match="Cannot update or delete"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM samples_samplehistory")


def test_history_of_foreign_record_is_not_found(client_for, other_study):
    from samples.models import Donor

    foreign = Donor.objects.create(study=other_study, code="F-1")
    assert client_for("manager").get(f"/api/v1/donors/{foreign.pk}/history/").status_code == 404


def test_delete_is_recorded(client_for, study):
    from samples.models import Donor

    donor = Donor.objects.create(study=study, code="GONE-1")
    pk = donor.pk
    assert client_for("editor").delete(f"/api/v1/donors/{pk}/").status_code == 204
    entries = history_for(Donor(pk=pk))
    assert entries[0].action == "delete"
