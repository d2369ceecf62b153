"""Property-based fuzzing of the image check: whatever bytes arrive as a blot or micrograph,
``check_image`` accepts them with a size and thumbnail or raises ValidationError naming the
file, never anything else."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assays.characterisation_services import IMAGE_MAX_BYTES, check_image

from .conftest import png_bytes, tiff16_bytes, upload

SEEDS = [png_bytes((40, 30)), tiff16_bytes((40, 30))]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        else:
            del data[pos:]
    return bytes(data)


@FUZZ
@given(mutated())
def test_mutated_images_are_accepted_or_refused_by_name(data: bytes):
    try:
        checked = check_image(
            upload("fuzz.tif", data), field="images", max_bytes=IMAGE_MAX_BYTES, thumbnail=True
        )
    except ValidationError as exc:
        assert all("fuzz.tif" in message for message in exc.message_dict["images"])
        return
    assert checked.width > 0 and checked.height > 0 and len(checked.sha256) == 64
    assert checked.thumbnail and checked.thumbnail.startswith(b"\x89PNG")
