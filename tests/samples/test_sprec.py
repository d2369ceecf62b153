"""SPREC derivation from recorded pre-analytical variables (EV-DOMAIN §3.6)."""

import pytest

from samples.sprec import derive_sprec

DOUBLE_SPIN_RT_NO_BRAKE = [
    {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False},
    {"g": 2500, "minutes": 15, "temp_c": 20, "brake": False},
]


def sprec(**overrides):
    values = {
        "fluid_type": "plasma",
        "tube_type": "k2_edta",
        "centrifugation_steps": DOUBLE_SPIN_RT_NO_BRAKE,
        "time_to_processing_min": 60,
        "processing_temp_c": 21,
        "post_centrifugation_delay_min": 30,
        "post_centrifugation_temp_c": 20,
        "storage_container": "cryotube",
        "storage_temp_c": -80,
        "urine_void_type": None,
    }
    values.update(overrides)
    return derive_sprec(**values)


def test_domain_reference_example():
    # EV-DOMAIN §3.6: K-EDTA plasma, <2 h RT, 2x RT spin <3000 g no brake, <1 h RT, cryotube -80 °C.
    assert sprec() == "PL2-PED-A-A-A-B-D"


def test_single_spin_plasma_is_pl1_and_second_spin_none():
    code = sprec(centrifugation_steps=[{"g": 2000, "minutes": 10, "temp_c": 4, "brake": True}])
    assert code.split("-")[0] == "PL1"
    assert code.split("-")[3:5] == ["D", "N"]


def test_unrecorded_values_are_x_not_guessed():
    code = derive_sprec(
        fluid_type="plasma",
        tube_type=None,
        centrifugation_steps=None,
        time_to_processing_min=None,
        processing_temp_c=None,
        post_centrifugation_delay_min=None,
        post_centrifugation_temp_c=None,
        storage_container=None,
        storage_temp_c=None,
    )
    assert code == "XXX-XXX-X-X-X-X-X"


def test_not_centrifuged_is_n_and_post_delay_not_applicable():
    code = sprec(fluid_type="saliva", tube_type="pp_sterile", centrifugation_steps=[])
    assert code == "SAL-PPS-A-N-N-N-D"


@pytest.mark.parametrize(
    ("minutes", "temp", "expected"),
    [
        (90, 21, "A"),
        (90, 4, "B"),
        (3 * 60, 21, "C"),
        (3 * 60, 4, "D"),
        (6 * 60, 21, "E"),
        (10 * 60, 4, "H"),
        (20 * 60, 21, "I"),
        (30 * 60, 4, "L"),
        (72 * 60, 21, "M"),
        (72 * 60, 4, "N"),
        (60, 37, "O"),
        (60, -20, "Z"),
    ],
)
def test_pre_centrifugation_delay_codes(minutes, temp, expected):
    assert sprec(time_to_processing_min=minutes, processing_temp_c=temp).split("-")[2] == expected


@pytest.mark.parametrize(
    ("spin", "expected"),
    [
        ({"g": 1500, "minutes": 10, "temp_c": 22, "brake": True}, "B"),
        ({"g": 1500, "minutes": 10, "temp_c": 4, "brake": False}, "C"),
        ({"g": 4000, "minutes": 15, "temp_c": 22, "brake": True}, "E"),
        ({"g": 8000, "minutes": 15, "temp_c": 4, "brake": True}, "H"),
        ({"g": 12000, "minutes": 15, "temp_c": 22, "brake": True}, "I"),
        ({"g": 800, "minutes": 30, "temp_c": 22, "brake": False}, "M"),
        # 5,000 ×g for 20 min (a published single-spin protocol) has no exact code.
        ({"g": 5000, "minutes": 20, "temp_c": 22, "brake": False}, "Z"),
        ({"g": 2000, "minutes": 10, "temp_c": 22, "brake": None}, "X"),
    ],
)
def test_first_centrifugation_codes(spin, expected):
    assert sprec(centrifugation_steps=[spin]).split("-")[3] == expected


def test_three_spins_mark_second_position_other():
    steps = [*DOUBLE_SPIN_RT_NO_BRAKE, {"g": 10000, "minutes": 30, "temp_c": 4, "brake": True}]
    assert sprec(centrifugation_steps=steps).split("-")[4] == "Z"


@pytest.mark.parametrize(
    ("void", "expected"),
    [("random", "URN"), ("first_morning", "URM"), ("timed", "URT"), ("24h", "U24")],
)
def test_urine_type_follows_void(void, expected):
    code = sprec(fluid_type="urine", tube_type="pp_sterile", urine_void_type=void)
    assert code.startswith(f"{expected}-PPS-")


@pytest.mark.parametrize(
    ("container", "temp", "expected"),
    [
        ("pp_0_5_2ml", -80, "A"),
        ("pp_0_5_2ml", -20, "B"),
        ("pp_40_500ul", -80, "S"),
        ("cryotube", -180, "C"),
        ("primary_container", -80, "Y"),
        ("cryotube", 4, "Z"),
    ],
)
def test_long_term_storage_codes(container, temp, expected):
    assert sprec(storage_container=container, storage_temp_c=temp).split("-")[6] == expected


def test_serum_and_citrate_containers():
    assert sprec(fluid_type="serum", tube_type="serum_clot_activator").startswith("SER-SST-")
    assert sprec(tube_type="citrate").startswith("PL2-SCI-")
