"""The built-in rule catalogue (the team's EV-DOMAIN.md §7, with the MISEV2018 checklist
items of §1.2, the nine EV-METRIC components of §2, the source-specific requirements of
§1.3/§1.5 and the plausibility ranges of §4.3). Each rule's ``source`` cites the
publication, which is what users are shown; the domain notes are the team's, not theirs.

Plain data, loaded into ``ComplianceRule`` rows by a data migration. Labs then edit the rows
(a new version), switch them off or add their own; ``load_builtin_rules`` only ever adds
codes that are missing, so a lab's edits survive an upgrade.

What is *not* here, and why: identity and custody rules ID-01…ID-03, CU-01 and CU-04 are
enforced by the database and services (unique accessions, parent chains, custody events)
rather than scored per preparation; PA-09 (CSF red cells), PA-11/NM-02 (functional claims)
need fields the LIMS does not record yet. Codes with a suffix (CH-03-TM, PA-06-A414, …)
split one catalogue entry into separately scored items; PL-xx are the plausibility ranges
of §4.3 that have no code in §7; EVM-xx are the EV-METRIC components.
"""

from __future__ import annotations

from typing import Any

# Sources, cited as in the domain notes.
MISEV2018 = "MISEV2018 (Théry et al., JEV 2018;7:1535750, doi:10.1080/20013078.2018.1535750)"
MISEV2018_CHECKLIST = f"{MISEV2018}; checklist as reproduced in PMC9465297 Table 3"
MISEV2018_T3 = f"{MISEV2018}, Table 3"
MISEV2023 = "MISEV2023 (Welsh et al., JEV 2024;13:e12404, doi:10.1002/jev2.12404)"
MISEV2023_T2 = f"{MISEV2023}, Table 2"
EVTRACK = (
    "EV-TRACK (Van Deun et al., Nat Methods 2017;14:228, doi:10.1038/nmeth.4185); nine "
    "EV-METRIC components per the EV-TRACK summary add-on (doi:10.1080/20013078.2019.1699367)"
)
MIBLOOD = "MIBlood-EV (ISEV Blood EV Task Force, PMID 38063210)"
EVBB = "Dhondt et al., JEV 2023;12:e12315, doi:10.1002/jev2.12315"
BETTIN = "Bettin et al., J Thromb Haemost 2022;20:2679–85; CLSI platelet-poor plasma <10,000/µL"
HEMO = "Serum haemolysis A414 criteria (figshare 3164830); free Hb 0.15 g/L (Storti et al., doi:10.1515/labmed-2018-0122)"
NTA_VLDL = "Plasma EVs by NTA and anticoagulants, Sci Rep 2018 (doi:10.1038/s41598-018-35401-8)"
URINE_TF = "ISEV Urine Task Force (Erdbrügger et al., JEV 2021;10:e12093, doi:10.1002/jev2.12093)"
BLIJDORP = "Blijdorp et al., JASN 2021;32:1210–26, doi:10.1681/ASN.2020081142"
BARREIRO = "Barreiro et al., JEV 2021, doi:10.1002/jev2.12158"
STORAGE_REV = "Impact of storage conditions on EVs, Life 2022;12:697 (PMC9146501)"
SHELKE = "Shelke et al., JEV 2014;3:24783, doi:10.3402/jev.v3.24783"
CCM_TF = (
    "ISEV CCM-EV task force (Shekari et al., J Extracell Biol 2023;2:e115, doi:10.1002/jex2.115)"
)
WEBBER = "Webber & Clayton, JEV 2013;2:19861, doi:10.3402/jev.v2i0.19861"
MIFLOWCYT = "MIFlowCyt-EV (Welsh et al., JEV 2020;9:1713526, doi:10.1080/20013078.2020.1713526)"
VESTAD = "Vestad et al., JEV 2017;6:1344087, doi:10.1080/20013078.2017.1344087; JoVE 2021 doi:10.3791/63059"
EXO_PREC = "Method comparisons: PMC7763630 table 3; PMC8780510 table 1"
KFACTOR = (
    "Rotor k-factor: T(h) = k/S (Beckman application note); Livshits et al., Sci Rep 2015;5:17319"
)
TEM_OP = "EVs 30–1,000 nm (doi:10.1080/20013078.2018.1555419)"
SPREC = (
    "ISBER SPREC 2.0 (Lehmann et al., Biopreserv Biobank 2012;10:366, doi:10.1089/bio.2012.0012)"
)

EV_TERMS = ["EV", "small_EV", "large_EV"]
BLOOD_DERIVED = ["plasma", "serum"]


def _rule(
    code: str,
    severity: str,
    profiles: list[str],
    title: str,
    check_name: str,
    params: dict[str, Any] | None = None,
    *,
    applies_when: dict[str, Any] | None = None,
    explanation: str,
    source: str,
    fix_hint: str = "",
    fix_kind: str = "",
) -> dict[str, Any]:
    return {
        "code": code,
        "severity": severity,
        "profiles": profiles,
        "title": title,
        "check_name": check_name,
        "params": params or {},
        "applies_when": applies_when or {},
        "explanation": explanation,
        "source": source,
        "fix_hint": fix_hint,
        "fix_kind": fix_kind,
    }


MISEV = ["MISEV2018", "MISEV2023"]
BLOOD_PROFILES = ["MIBlood-EV", "MISEV2023"]

BUILTIN_RULES: tuple[dict[str, Any], ...] = (
    # --- MISEV2018 checklist: quantification (Q1–Q3) -------------------------------------
    _rule(
        "PA-01",
        "error",
        MISEV,
        "Starting amount recorded",
        "field_present",
        {"paths": ["run.input_volume_ml"]},
        explanation="Yields mean nothing without the volume of fluid (or cell number, tissue "
        "mass) the EVs came from (MISEV2018 Q1).",
        source=MISEV2018_CHECKLIST,
        fix_hint="Record the input volume used in the isolation run.",
        fix_kind="run",
    ),
    _rule(
        "CH-01",
        "error",
        MISEV,
        "Two global quantification methods",
        "quantification_methods",
        {"min": 2},
        explanation="Quantify the preparation by at least two methods among particle number, "
        "protein and lipid (MISEV2018 Q2).",
        source=MISEV2018_CHECKLIST,
        fix_hint="Add the missing quantification: a particle count (NTA) or a protein "
        "measurement (BCA, Qubit).",
        fix_kind="protein",
    ),
    _rule(
        "CH-02",
        "error",
        MISEV,
        "Particle:protein ratio",
        "purity_ratio",
        {
            "min_particles_per_ug": 1.5e9,
            "bands": [
                {"label": "high purity", "min": 3e10},
                {"label": "low purity", "min": 1.5e9},
                {"label": "impure", "min": 0},
            ],
        },
        explanation="The ratio of two quantifications (e.g. particles per µg protein) tells "
        "how much non-vesicular protein came along (MISEV2018 Q3). Below the cut-off is a soft "
        "warning: the bands are Webber & Clayton's, recalled, and method-dependent.",
        source=f"{MISEV2018_CHECKLIST}; {WEBBER}",
        fix_hint="Measure what is missing — particles or protein — on the preparation (or an "
        "aliquot of it).",
        fix_kind="protein",
    ),
    # --- MISEV2018 checklist: markers (M1–M4) ---------------------------------------------
    _rule(
        "CH-03-TM",
        "error",
        MISEV,
        "Transmembrane/GPI-anchored EV marker detected",
        "marker_detected",
        {"categories": ["1a", "1b"], "min": 1},
        applies_when={"nomenclature_terms": EV_TERMS},
        explanation="A preparation called EV shows at least one transmembrane or "
        "GPI-anchored protein (tetraspanins CD9/CD63/CD81, integrins …) (MISEV2018 M1).",
        source=MISEV2018_T3,
        fix_hint="Add a marker result for CD9, CD63 or CD81.",
        fix_kind="marker",
    ),
    _rule(
        "CH-03-CY",
        "error",
        MISEV,
        "Cytosolic membrane-binding EV marker detected",
        "marker_detected",
        {"categories": ["2a"], "min": 1},
        applies_when={"nomenclature_terms": EV_TERMS},
        explanation="…and at least one cytosolic protein with membrane-binding capacity "
        "(TSG101, ALIX, syntenin, flotillins, annexins) (MISEV2018 M2).",
        source=MISEV2018_T3,
        fix_hint="Add a marker result for TSG101, ALIX (PDCD6IP) or syntenin (SDCBP).",
        fix_kind="marker",
    ),
    _rule(
        "CH-03-NEG",
        "error",
        MISEV,
        "Non-EV (purity) markers assessed",
        "marker_reported",
        {"categories": ["3", "4"], "min": 1},
        applies_when={"nomenclature_terms": EV_TERMS},
        explanation="Expected contaminants were looked for, whether found or not: "
        "lipoproteins, albumin, ER/Golgi/mitochondrial/nuclear proteins (MISEV2018 M3).",
        source=MISEV2018_T3,
        fix_hint="Add a result for a negative marker (calnexin, GM130, APOA1 …).",
        fix_kind="marker",
    ),
    _rule(
        "CH-03-CMP",
        "warning",
        MISEV,
        "Other compartments for large-EV claims",
        "marker_reported",
        {"categories": ["4"], "min": 1},
        applies_when={"nomenclature_terms": ["large_EV"]},
        explanation="Claims about large EVs need proteins of compartments other than plasma "
        "membrane and endosomes (MISEV2018 M4, mandatory if applicable).",
        source=MISEV2018_CHECKLIST,
        fix_hint="Add results for mitochondrial, ER or nuclear proteins.",
        fix_kind="marker",
    ),
    _rule(
        "CH-04-BLOOD",
        "error",
        [*MISEV, "MIBlood-EV"],
        "Lipoproteins assessed (APOA1, APOB)",
        "marker_reported",
        {"symbols": ["APOA1", "APOB"], "require_all": True},
        applies_when={"fluid_types": BLOOD_DERIVED, "nomenclature_terms": EV_TERMS},
        explanation="Lipoproteins outnumber blood EVs by orders of magnitude, overlap in size "
        "and density and react with EV antibodies: blood EV preparations report APOA1 (HDL) "
        "and APOB (LDL/VLDL).",
        source=f"{MISEV2018_T3}; {NTA_VLDL}; {MIBLOOD}",
        fix_hint="Add marker results for APOA1 and APOB.",
        fix_kind="marker",
    ),
    _rule(
        "CH-04-URINE",
        "error",
        [*MISEV, "urine"],
        "Uromodulin assessed (UMOD)",
        "marker_reported",
        {"symbols": ["UMOD"], "require_all": True},
        applies_when={"fluid_types": ["urine"], "nomenclature_terms": EV_TERMS},
        explanation="Uromodulin (Tamm-Horsfall protein) is the most abundant urine protein, "
        "co-isolates with urinary EVs and disturbs NTA.",
        source=f"{URINE_TF}; {BLIJDORP}",
        fix_hint="Add a marker result for UMOD.",
        fix_kind="marker",
    ),
    _rule(
        "CH-04-CCM",
        "error",
        MISEV,
        "Cellular contaminants assessed (CANX/GOLGA2/HSP90B1)",
        "marker_reported",
        {"symbols": ["CANX", "GOLGA2", "HSP90B1"], "min": 1},
        applies_when={"fluid_types": ["conditioned_medium"], "nomenclature_terms": EV_TERMS},
        explanation="Conditioned-medium preparations show the absence (or presence) of "
        "cellular compartments: calnexin, GM130 or GRP94.",
        source=MISEV2018_T3,
        fix_hint="Add a marker result for calnexin (CANX), GM130 (GOLGA2) or GRP94 (HSP90B1).",
        fix_kind="marker",
    ),
    _rule(
        "CH-05",
        "warning",
        MISEV,
        "Positive evidence beyond promiscuous proteins",
        "weak_positive_evidence",
        applies_when={"nomenclature_terms": EV_TERMS},
        explanation="Heat-shock proteins, actin, tubulin and GAPDH also come with "
        "non-vesicular particles (exomeres): on their own they do not show EVs.",
        source=MISEV2018_T3,
        fix_hint="Add a transmembrane (CD9/CD63/CD81) or ESCRT-associated marker.",
        fix_kind="marker",
    ),
    # --- MISEV2018 checklist: single vesicles (S1, S2) -------------------------------------
    _rule(
        "CH-06",
        "error",
        MISEV,
        "Single-vesicle images, wide-field and close-up",
        "images",
        {"views": ["wide_field", "close_up"], "same_record": True},
        explanation="Images of single EVs (EM, AFM, super-resolution) both wide-field, to show "
        "the population, and close-up, to show single vesicles (MISEV2018 S1).",
        source=MISEV2018_CHECKLIST,
        fix_hint="Add an imaging record with a wide-field and a close-up image.",
        fix_kind="imaging",
    ),
    _rule(
        "CH-07",
        "error",
        MISEV,
        "Single-particle counting and sizing",
        "single_particle_method",
        {"methods": ["NTA", "ZetaView", "TRPS", "MRPS", "flow"]},
        explanation="A non-imaging method that analyses large numbers of single particles "
        "(NTA, TRPS, high-resolution flow) gives concentration and size (MISEV2018 S2).",
        source=MISEV2018_CHECKLIST,
        fix_hint="Upload an NTA/ZetaView result with concentration and size.",
        fix_kind="particles",
    ),
    _rule(
        "CH-08",
        "error",
        MISEV,
        "Particle assay settings and replicates",
        "particle_assay_details",
        applies_when={"measurement_kinds_any": ["particles"]},
        explanation="Particle counts depend on dilution and capture settings (camera level, "
        "detection threshold); replicate CV above 25 % or fewer than three videos is not "
        "reproducible enough.",
        source=VESTAD,
        fix_hint="Record the dilution and the capture settings with the NTA result.",
        fix_kind="particles",
    ),
    _rule(
        "CH-09-AB",
        "error",
        MISEV,
        "Antibodies identified, with dilution",
        "antibody_details",
        {"require_dilution": True},
        applies_when={"flags": ["antibody_assay"]},
        explanation="Every antibody is identified (RRID, or clone and catalogue number) and "
        "its dilution given, so the assay can be repeated.",
        source=f"{MISEV2018}; {EVTRACK}",
        fix_hint="Add the antibody RRID (or clone and catalogue number) and dilution.",
        fix_kind="marker",
    ),
    _rule(
        "CH-09-LY",
        "error",
        MISEV,
        "Lysate preparation described",
        "lysate_details",
        applies_when={"flags": ["lysate_assay"]},
        explanation="Western blots and mass spectrometry of lysates give the lysis buffer "
        "(detergent, reducing conditions), which decides what is detected.",
        source=f"{MISEV2018}; {EVTRACK}",
        fix_hint="Record the lysis buffer with the marker result.",
        fix_kind="marker",
    ),
    _rule(
        "CH-10",
        "error",
        ["MISEV2023"],
        "Flow cytometry reported per MIFlowCyt-EV",
        "miflowcyt_controls",
        applies_when={"measurement_kinds_any": ["flow"]},
        explanation="Flow cytometry of EVs reports buffer-only, unstained/isotype and "
        "detergent-lysis controls, calibration in standard units and limits of detection.",
        source=MIFLOWCYT,
        fix_hint="Add the controls, calibration units and limit of detection to the flow record.",
        fix_kind="flow",
    ),
    _rule(
        "CH-11",
        "warning",
        [*MISEV, "MIBlood-EV"],
        "Particle counts of unseparated plasma",
        "raw_fluid_particle_claim",
        applies_when={
            "fluid_types": ["plasma", "serum", "whole_blood"],
            "nomenclature_terms": EV_TERMS,
        },
        explanation="More than 98 % of the particles NTA sees in plasma are lipoproteins: "
        "counts of plasma that went through no EV separation are not EV concentrations.",
        source=NTA_VLDL,
        fix_hint="Separate EVs (SEC, density gradient) before counting.",
        fix_kind="run",
    ),
    _rule(
        "CH-12",
        "warning",
        MISEV,
        "Modal size plausible for small EVs",
        "size_consistency",
        {"min_nm": 50, "max_nm": 300, "methods": ["NTA", "ZetaView"], "statistic": "mode"},
        applies_when={"nomenclature_terms": ["small_EV"]},
        explanation="NTA sizing is unreliable below ~50 nm and a small-EV preparation with a "
        "mode above 300 nm is not one (inferred heuristic).",
        source=MISEV2023_T2,
        fix_hint="Check the NTA settings or the small-EV claim.",
        fix_kind="particles",
    ),
    _rule(
        "CH-13",
        "warning",
        MISEV,
        "Size consistent with a large-EV claim",
        "size_consistency",
        {"min_nm": 200, "methods": ["NTA", "ZetaView"], "statistic": "mode"},
        applies_when={"nomenclature_terms": ["large_EV"]},
        explanation="Large EVs are operationally > 200 nm; a modal size below that does not "
        "support the size class claimed (method-dependent).",
        source=MISEV2023_T2,
        fix_hint="Check the size class claimed against the measured sizes.",
        fix_kind="particles",
    ),
    _rule(
        "NM-01",
        "error",
        MISEV,
        "MISEV2023 nomenclature",
        "nomenclature",
        explanation="Preparations are named with MISEV2023 terms (EV, small/large EV, EP …); "
        "exosome, ectosome or microvesicle claim a biogenesis route that needs evidence.",
        source=MISEV2023_T2,
        fix_hint="Use an operational term (EV, small EV) unless the origin was shown.",
        fix_kind="run",
    ),
    # --- Separation ------------------------------------------------------------------------
    _rule(
        "SE-01",
        "error",
        MISEV,
        "Versioned protocol, deviations recorded",
        "protocol_recorded",
        explanation="Every run follows a versioned protocol; where the run differed from it, "
        "the deviation is described.",
        source=MISEV2018,
        fix_hint="Describe the deviation in the run.",
        fix_kind="run",
    ),
    _rule(
        "SE-02",
        "error",
        MISEV,
        "Ultracentrifugation fully described",
        "step_parameters",
        {
            "kinds": ["ultracentrifugation"],
            "params": ["g_force", "duration_min", "temperature_c"],
            "any_of": ["rotor", "k_factor"],
        },
        applies_when={"step_kinds_any": ["ultracentrifugation"]},
        explanation="Force (×g), time, temperature and the rotor (or k-factor) decide what "
        "pellets; without them the run cannot be repeated.",
        source=f"{MISEV2018}; {EVTRACK}",
        fix_hint="Give ×g, time, temperature and the rotor in the protocol step.",
        fix_kind="run",
    ),
    _rule(
        "SE-02-K",
        "info",
        MISEV,
        "Ultracentrifugation long enough to pellet",
        "pelleting_time",
        {"svedberg": 250},
        applies_when={"step_kinds_any": ["ultracentrifugation"]},
        explanation="Pelleting time T = k/S. The default 250 S is roughly a 70 nm vesicle of "
        "density 1.15 g/mL at 4 °C (Stokes' law); set the S of the smallest vesicles the "
        "study wants to pellet.",
        source=KFACTOR,
        fix_hint="Lengthen the spin or use a rotor with a smaller k-factor.",
        fix_kind="run",
    ),
    _rule(
        "SE-03",
        "error",
        MISEV,
        "Density gradient fully described",
        "step_parameters",
        {
            "kinds": ["density_gradient"],
            "params": [
                "medium",
                "range_from_percent",
                "range_to_percent",
                "fractions_pooled",
                "pooled_densities_g_ml",
            ],
        },
        applies_when={"step_kinds_any": ["density_gradient"]},
        explanation="Gradient steps report the medium, the range and the measured densities "
        "of the pooled fractions.",
        source=MISEV2018,
        fix_hint="Give the gradient range, pooled fractions and their densities.",
        fix_kind="run",
    ),
    _rule(
        "SE-04",
        "error",
        MISEV,
        "Size-exclusion chromatography fully described",
        "step_parameters",
        {
            "kinds": ["sec"],
            "params": ["column", "load_volume_ml", "fraction_volume_ml", "fractions_pooled"],
        },
        applies_when={"step_kinds_any": ["sec"]},
        explanation="SEC steps report the column or resin, load volume, fraction volume and "
        "which fractions were pooled.",
        source=MISEV2018,
        fix_hint="Give the load volume, fraction volume and pooled fractions.",
        fix_kind="run",
    ),
    _rule(
        "SE-05",
        "warning",
        MISEV,
        "Precipitation without an orthogonal separation",
        "step_kind_present",
        {"kinds": ["sec", "density_gradient", "ultracentrifugation", "immunoaffinity", "af4"]},
        applies_when={"step_kinds_any": ["precipitation"], "nomenclature_terms": EV_TERMS},
        explanation="Precipitation reagents co-precipitate proteins and lipoproteins: an EV "
        "claim needs a second, orthogonal separation.",
        source=EXO_PREC,
        fix_hint="Add a SEC or density-gradient step after precipitation.",
        fix_kind="run",
    ),
    # --- Custody and storage ---------------------------------------------------------------
    _rule(
        "CU-02",
        "warning",
        MISEV,
        "Freeze–thaw cycles",
        "freeze_thaw_max",
        {"warn_above": 1},
        explanation="Each freeze–thaw cycle changes EV counts and cargo. More than one is "
        "shown; above the study's maximum (or the rule's) the preparation is flagged.",
        source=STORAGE_REV,
        fix_hint="Use a tube thawed fewer times.",
        fix_kind="sample",
    ),
    _rule(
        "CU-03",
        "warning",
        [*MISEV, "urine"],
        "Long-term storage at −60 °C or colder",
        "storage_temperature",
        {"max_c": -60},
        explanation="Biofluids and EV preparations keep at −80 °C; at −20 °C urinary EV "
        "RNA and protein markers degrade.",
        source=f"{BARREIRO}; {STORAGE_REV}",
        fix_hint="Move the tubes to a −80 °C freezer.",
        fix_kind="sample",
    ),
    # --- Plausibility (§4.3) -----------------------------------------------------------------
    _rule(
        "PL-01",
        "warning",
        MISEV,
        "EV fraction density in the EV range",
        "density_range",
        {"min": 1.08, "max": 1.21},
        applies_when={"step_kinds_any": ["density_gradient"], "nomenclature_terms": EV_TERMS},
        explanation="Small EVs float at about 1.10–1.19 g/mL; an 'EV fraction' outside "
        "1.08–1.21 g/mL is more likely lipoproteins (HDL 1.063–1.21, LDL < 1.063) or protein.",
        source=f"{MISEV2018} (EV buoyant densities; ranges recalled, verify)",
        fix_hint="Check the fraction densities and which fractions were pooled.",
        fix_kind="run",
    ),
    _rule(
        "PL-02",
        "warning",
        BLOOD_PROFILES,
        "Particle yield plausible for blood EVs",
        "particle_concentration",
        {"max_per_ml": 1e12, "basis": "input", "unless_symbols_reported": ["APOA1", "APOB"]},
        applies_when={"fluid_types": BLOOD_DERIVED, "nomenclature_terms": EV_TERMS},
        explanation="Plasma holds about 10¹⁰ EVs per mL; far more particles per mL of plasma "
        "are lipoproteins unless shown otherwise.",
        source="Johnsen et al., BBA Rev Cancer 2019;1871:109–16",
        fix_hint="Report APOA1 and APOB, or separate lipoproteins.",
        fix_kind="marker",
    ),
    _rule(
        "PL-03",
        "warning",
        MISEV,
        "Particle sizes in the EV range",
        "size_consistency",
        {"min_nm": 30, "max_nm": 1000, "methods": ["NTA", "ZetaView"], "statistic": "mode"},
        applies_when={"nomenclature_terms": EV_TERMS},
        explanation="EVs are about 30–1,000 nm; modal sizes below 30 nm suggest non-vesicular "
        "particles or noise.",
        source=TEM_OP,
        fix_hint="Check the particle measurement.",
        fix_kind="particles",
    ),
    # --- Blood pre-analytics (MIBlood-EV) ---------------------------------------------------
    _rule(
        "PA-02",
        "error",
        BLOOD_PROFILES,
        "Blood collection and processing recorded",
        "field_present",
        {
            "paths": [
                "sample.tube_type",
                "sample.time_to_processing_min",
                "sample.centrifugation_steps",
                "sample.centrifugation_steps[].brake",
            ]
        },
        applies_when={"fluid_types": BLOOD_DERIVED},
        explanation="Tube/anticoagulant, time to processing and every spin (×g, minutes, °C, "
        "brake) change platelet carry-over and ex vivo EV release.",
        source=f"{MIBLOOD}; {EVBB}",
        fix_hint="Complete the sample's tube, processing time and spins.",
        fix_kind="sample",
    ),
    _rule(
        "PA-02-SPREC",
        "error",
        BLOOD_PROFILES,
        "SPREC code derivable",
        "sprec_known",
        {"positions": [1, 2, 3, 4, 5, 6]},
        applies_when={"fluid_types": BLOOD_DERIVED},
        explanation="The pre-analytical fields give a SPREC code with no unknown (X) in "
        "positions 1–6.",
        source=SPREC,
        fix_hint="Complete the sample's pre-analytical fields.",
        fix_kind="sample",
    ),
    _rule(
        "PA-03",
        "warning",
        BLOOD_PROFILES,
        "Processed within 8 h",
        "threshold",
        {
            "path": "sample.time_to_processing_min",
            "max": 480,
            "severity_when_out": "warn",
            "unit": "min",
        },
        applies_when={"fluid_types": BLOOD_DERIVED},
        explanation="Blood processed more than 8 h after collection shows more ex vivo EV "
        "release, whatever the tube.",
        source=EVBB,
        fix_hint="Process blood within 8 h.",
        fix_kind="sample",
    ),
    _rule(
        "PA-03-CIT",
        "warning",
        BLOOD_PROFILES,
        "Citrate blood processed within 1 h",
        "threshold",
        {
            "path": "sample.time_to_processing_min",
            "max": 60,
            "severity_when_out": "warn",
            "unit": "min",
        },
        applies_when={"fluid_types": ["plasma"], "field_in": {"sample.tube_type": ["citrate"]}},
        explanation="Citrate tubes are fine for processing within 1 h; only ACD-A or EDTA "
        "hold up to 8 h.",
        source=EVBB,
        fix_hint="Process citrate blood within 1 h or use EDTA/ACD-A tubes.",
        fix_kind="sample",
    ),
    _rule(
        "PA-04",
        "warning",
        BLOOD_PROFILES,
        "Serum instead of plasma",
        "advisory",
        {
            "status": "warn",
            "message": "Serum: clotting releases platelet EVs; plasma is preferred "
            "unless platelet EVs are the aim.",
        },
        applies_when={"fluid_types": ["serum"]},
        explanation="Clotting releases platelet EVs into serum; use plasma unless platelet EVs "
        "are the aim.",
        source=EVBB,
        fix_hint="Use plasma, or state that platelet EVs are the aim.",
        fix_kind="sample",
    ),
    _rule(
        "PA-05",
        "error",
        BLOOD_PROFILES,
        "Residual platelets reported",
        "threshold",
        {
            "path": "sample.residual_platelets_per_ml",
            "max": 1e7,
            "severity_when_out": "warn",
            "missing": "fail",
            "unit": "/mL",
        },
        applies_when={"fluid_types": ["plasma"]},
        explanation="Residual platelets vary 55-fold between double-spin protocols and "
        "release EVs ex vivo: report the count; above 10⁷/mL (CLSI platelet-poor plasma) is "
        "flagged.",
        source=BETTIN,
        fix_hint="Count residual platelets in the plasma.",
        fix_kind="sample",
    ),
    _rule(
        "PA-06",
        "warning",
        BLOOD_PROFILES,
        "Haemolysis measured",
        "field_present",
        {"any_of": ["sample.haemolysis_a414", "sample.free_haemoglobin_g_l"]},
        applies_when={"fluid_types": BLOOD_DERIVED},
        explanation="Haemolysis releases erythrocyte EVs and cargo; record A414 or free "
        "haemoglobin.",
        source=HEMO,
        fix_hint="Record A414 or free haemoglobin.",
        fix_kind="sample",
    ),
    _rule(
        "PA-06-A414",
        "error",
        BLOOD_PROFILES,
        "Haemolysis (A414) acceptable",
        "threshold",
        {
            "path": "sample.haemolysis_a414",
            "warn_max": 0.072,
            "max": 0.3,
            "severity_when_out": "fail",
        },
        applies_when={"fluid_types": BLOOD_DERIVED},
        explanation="A414 below 0.072 is low haemolysis, 0.072–0.3 indeterminate, above 0.3 "
        "severe.",
        source=HEMO,
        fix_hint="Exclude or re-collect the haemolysed sample.",
        fix_kind="sample",
    ),
    _rule(
        "PA-06-HB",
        "warning",
        BLOOD_PROFILES,
        "Free haemoglobin acceptable",
        "threshold",
        {
            "path": "sample.free_haemoglobin_g_l",
            "max": 0.15,
            "severity_when_out": "warn",
            "unit": "g/L",
        },
        applies_when={"fluid_types": BLOOD_DERIVED},
        explanation="Free haemoglobin above 0.15 g/L is the haemostasis laboratories' "
        "haemolysis cut-off.",
        source=HEMO,
        fix_hint="Exclude or re-collect the haemolysed sample.",
        fix_kind="sample",
    ),
    _rule(
        "PA-07",
        "warning",
        BLOOD_PROFILES,
        "Fasting status recorded",
        "field_present",
        {"paths": ["sample.fasting_state"], "unknown_values": ["unknown"]},
        applies_when={"fluid_types": BLOOD_DERIVED},
        explanation="After a meal lipoproteins rise and NTA counts follow triglycerides: "
        "record whether the donor fasted.",
        source=NTA_VLDL,
        fix_hint="Record the fasting state.",
        fix_kind="sample",
    ),
    # --- Urine ---------------------------------------------------------------------------
    _rule(
        "PA-08",
        "error",
        ["urine", "MISEV2023"],
        "Urine collection and normalisation recorded",
        "field_present",
        {
            "paths": ["sample.urine_void_type", "sample.collected_at"],
            "any_of": [
                "sample.creatinine_mmol_l",
                {"path": "sample.urine_void_type", "in": ["timed", "24h"]},
            ],
        },
        applies_when={"fluid_types": ["urine"]},
        explanation="Urinary EV counts follow urine concentration: record the void type, the "
        "collection time and a normaliser (creatinine, or a timed collection).",
        source=f"{URINE_TF}; {BLIJDORP}",
        fix_hint="Record creatinine (mmol/L) for the urine sample.",
        fix_kind="sample",
    ),
    # --- Conditioned cell-culture medium -----------------------------------------------------
    _rule(
        "PA-10",
        "error",
        MISEV,
        "Cell culture recorded",
        "field_present",
        {
            "paths": [
                "sample.cell_line",
                "sample.passage_number",
                "sample.culture_serum",
                "sample.conditioning_hours",
                "sample.viability_at_harvest_pct",
            ]
        },
        applies_when={"fluid_types": ["conditioned_medium"]},
        explanation="Cell line, passage, serum, conditioning time and viability at harvest "
        "change what cells release.",
        source=CCM_TF,
        fix_hint="Complete the culture fields of the sample.",
        fix_kind="sample",
    ),
    _rule(
        "PA-10-DEP",
        "error",
        MISEV,
        "Serum EV-depleted",
        "value_in",
        {
            "path": "sample.serum_ev_depletion",
            "values": ["uc_18h", "uc_short", "ultrafiltration", "commercial"],
            "status_when_out": "fail",
            "missing": "fail",
        },
        applies_when={"fluid_types": ["conditioned_medium"], "flags": ["culture_serum"]},
        explanation="Serum brings its own EVs, which end up in the preparation: culture with "
        "serum uses EV-depleted serum, and says how it was depleted.",
        source=SHELKE,
        fix_hint="Record how the serum was EV-depleted.",
        fix_kind="sample",
    ),
    _rule(
        "PA-10-UC",
        "warning",
        MISEV,
        "Serum depleted by ≥18 h ultracentrifugation",
        "value_in",
        {
            "path": "sample.serum_ev_depletion",
            "values": ["uc_18h", "ultrafiltration", "commercial", "none", "not_applicable"],
            "status_when_out": "warn",
        },
        applies_when={"fluid_types": ["conditioned_medium"]},
        explanation="18 h of ultracentrifugation removes about 95 % of serum EVs; 1.5 h is "
        "not enough.",
        source=SHELKE,
        fix_hint="Deplete serum by ultracentrifugation for 18 h.",
        fix_kind="sample",
    ),
    # --- EV-METRIC (nine components; EV-DOMAIN §2) -------------------------------------------
    _rule(
        "EVM-DG",
        "info",
        ["EV-METRIC"],
        "Density gradient",
        "step_kind_present",
        {"kinds": ["density_gradient"]},
        explanation="A density gradient separated the EVs or validated that the signal "
        "co-migrates with them. Always applicable, so workflows without one cannot reach 100 %.",
        source=EVTRACK,
        fix_hint="Validate on a density gradient.",
        fix_kind="run",
    ),
    _rule(
        "EVM-EVP",
        "info",
        ["EV-METRIC"],
        "EV-enriched proteins",
        "marker_reported",
        {"categories": ["1a", "1b", "2a"]},
        explanation="At least one EV-enriched protein (transmembrane or cytosolic "
        "membrane-binding) was analysed.",
        source=EVTRACK,
        fix_hint="Add a result for CD9/CD63/CD81 or TSG101/ALIX.",
        fix_kind="marker",
    ),
    _rule(
        "EVM-NEV",
        "info",
        ["EV-METRIC"],
        "Non-EV proteins",
        "marker_reported",
        {"categories": ["3", "4"]},
        explanation="At least one protein not expected in EVs was analysed.",
        source=EVTRACK,
        fix_hint="Add a result for calnexin, GM130, APOA1 …",
        fix_kind="marker",
    ),
    _rule(
        "EVM-EM",
        "info",
        ["EV-METRIC"],
        "Electron microscopy images",
        "images",
        {"views": [], "methods": ["tem", "cryo_em", "sem"]},
        explanation="EVs were imaged by electron microscopy.",
        source=EVTRACK,
        fix_hint="Add a TEM or cryo-EM imaging record.",
        fix_kind="imaging",
    ),
    _rule(
        "EVM-PA",
        "info",
        ["EV-METRIC"],
        "Particle analysis",
        "single_particle_method",
        {"methods": ["NTA", "ZetaView", "TRPS", "MRPS", "flow", "dls"]},
        explanation="A particle sizing and counting assay reported concentration and size.",
        source=EVTRACK,
        fix_hint="Upload an NTA/ZetaView result.",
        fix_kind="particles",
    ),
    _rule(
        "EVM-PQ",
        "info",
        ["EV-METRIC"],
        "Protein quantification",
        "quantification_methods",
        {"min": 1, "methods": ["protein"]},
        explanation="The sixth generic component is reconstructed from memory in the team's "
        "notes (protein quantification / method details): verify against evtrack.org before "
        "publishing scores, and edit this rule if it differs.",
        source=f"{EVTRACK} (component 6 unverified)",
        fix_hint="Add a protein measurement.",
        fix_kind="protein",
    ),
    _rule(
        "EVM-UC",
        "info",
        ["EV-METRIC"],
        "Ultracentrifugation specifics",
        "step_parameters",
        {
            "kinds": ["ultracentrifugation"],
            "params": ["g_force", "duration_min"],
            "any_of": ["rotor_type", "k_factor"],
        },
        applies_when={"step_kinds_any": ["ultracentrifugation"]},
        explanation="Every ultracentrifugation step gives ×g, time and rotor type (or "
        "k-factor). Applicable only to workflows with ultracentrifugation.",
        source=EVTRACK,
        fix_hint="Give ×g, time and the rotor in the protocol step.",
        fix_kind="run",
    ),
    _rule(
        "EVM-AB",
        "info",
        ["EV-METRIC"],
        "Antibody specifics",
        "antibody_details",
        {"require_dilution": True},
        applies_when={"flags": ["antibody_assay"]},
        explanation="Every antibody is identified (RRID, or clone and catalogue number) and "
        "its dilution given — the same test as CH-09-AB. Applicable only when an "
        "antibody-based assay was used.",
        source=EVTRACK,
        fix_hint="Add the antibody RRID (or clone and catalogue number) and dilution.",
        fix_kind="marker",
    ),
    _rule(
        "EVM-LY",
        "info",
        ["EV-METRIC"],
        "Lysate preparation",
        "lysate_details",
        applies_when={"flags": ["lysate_assay"]},
        explanation="The lysis buffer is given for lysates. Applicable only when a "
        "lysate-based assay (western blot, mass spectrometry) was used.",
        source=EVTRACK,
        fix_hint="Record the lysis buffer.",
        fix_kind="marker",
    ),
)


def builtin_specs() -> list:
    """The catalogue as engine RuleSpecs (for tests and previews without a database)."""
    from .engine import RuleSpec

    return [RuleSpec.from_dict({**rule, "is_builtin": True}) for rule in BUILTIN_RULES]


def load_builtin_rules(rule_model) -> int:
    """Create the built-in rules whose codes are missing (a lab's versions stay untouched).
    Takes the model as an argument so a data migration can pass its historical model."""
    existing = set(rule_model.objects.values_list("code", flat=True))
    new = [
        rule_model(
            **{key: value for key, value in rule.items()},
            version=1,
            is_active=True,
            is_current=True,
            is_builtin=True,
        )
        for rule in BUILTIN_RULES
        if rule["code"] not in existing
    ]
    rule_model.objects.bulk_create(new)
    return len(new)
