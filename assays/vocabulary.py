"""The built-in marker vocabulary: HGNC symbols and families by MISEV2018 category (Table 3,
as summarised in the team's EV domain notes §1.5; 2a/2b split and some lists are from recall
there, so they are rows the lab can correct, not code). A trailing ``*`` is a family."""

from __future__ import annotations

SOURCE = "MISEV2018 Table 3 (Théry et al. 2018, doi:10.1080/20013078.2018.1535750)"

# (symbol, category, name, aliases)
BUILTIN_MARKERS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    # 1a transmembrane / GPI-anchored, not tissue-specific
    ("CD9", "1a", "CD9 molecule (tetraspanin)", ()),
    ("CD63", "1a", "CD63 molecule (tetraspanin)", ("LAMP3",)),
    ("CD81", "1a", "CD81 molecule (tetraspanin)", ("TAPA1",)),
    ("CD82", "1a", "CD82 molecule (tetraspanin)", ()),
    ("ITGA*", "1a", "Integrin alpha subunits", ()),
    ("ITGB*", "1a", "Integrin beta subunits", ()),
    ("HLA-A", "1a", "MHC class I A", ()),
    ("HLA-B", "1a", "MHC class I B", ()),
    ("HLA-C", "1a", "MHC class I C", ()),
    ("TFR2", "1a", "Transferrin receptor 2", ()),
    ("LAMP1", "1a", "Lysosomal-associated membrane protein 1", ()),
    ("LAMP2", "1a", "Lysosomal-associated membrane protein 2", ()),
    ("SDC*", "1a", "Syndecans", ()),
    ("BSG", "1a", "Basigin", ("CD147",)),
    ("ADAM10", "1a", "ADAM metallopeptidase domain 10", ()),
    ("NT5E", "1a", "5'-nucleotidase ecto", ("CD73",)),
    ("CD55", "1a", "CD55 molecule (DAF)", ()),
    ("CD59", "1a", "CD59 molecule", ()),
    ("SHH", "1a", "Sonic hedgehog", ()),
    (
        "MFGE8",
        "1a",
        "Milk fat globule EGF and factor V/VIII domain (lactadherin)",
        ("LACTADHERIN",),
    ),
    # 1b transmembrane, cell/tissue-specific
    ("TSPAN8", "1b", "Tetraspanin 8", ()),
    ("CD37", "1b", "CD37 molecule", ()),
    ("CD53", "1b", "CD53 molecule", ()),
    ("PECAM1", "1b", "Platelet and endothelial cell adhesion molecule 1", ("CD31",)),
    ("ERBB2", "1b", "erb-b2 receptor tyrosine kinase 2", ("HER2",)),
    ("EPCAM", "1b", "Epithelial cell adhesion molecule", ("CD326",)),
    ("THY1", "1b", "Thy-1 cell surface antigen", ("CD90",)),
    ("PTPRC", "1b", "Protein tyrosine phosphatase receptor type C", ("CD45",)),
    ("ITGA2B", "1b", "Integrin subunit alpha 2b", ("CD41",)),
    ("GP9", "1b", "Glycoprotein IX platelet", ("CD42A",)),
    ("GYPA", "1b", "Glycophorin A", ("CD235A",)),
    ("CD14", "1b", "CD14 molecule", ()),
    ("HLA-DR*", "1b", "MHC class II DR", ()),
    ("CD3D", "1b", "CD3 delta subunit of T-cell receptor complex", ()),
    ("CD3E", "1b", "CD3 epsilon subunit of T-cell receptor complex", ()),
    ("CD3G", "1b", "CD3 gamma subunit of T-cell receptor complex", ()),
    # 2a cytosolic, lipid/membrane-binding
    ("TSG101", "2a", "Tumor susceptibility 101", ()),
    ("CHMP*", "2a", "Charged multivesicular body proteins (ESCRT-III)", ()),
    ("PDCD6IP", "2a", "Programmed cell death 6 interacting protein", ("ALIX", "AIP1")),
    ("VPS4A", "2a", "Vacuolar protein sorting 4A", ()),
    ("VPS4B", "2a", "Vacuolar protein sorting 4B", ()),
    ("ARRDC1", "2a", "Arrestin domain containing 1", ()),
    ("FLOT1", "2a", "Flotillin 1", ()),
    ("FLOT2", "2a", "Flotillin 2", ()),
    ("CAV*", "2a", "Caveolins", ()),
    ("EHD*", "2a", "EH domain containing proteins", ()),
    ("RHOA", "2a", "Ras homolog family member A", ()),
    ("ANXA*", "2a", "Annexins", ()),
    ("ARF6", "2a", "ADP ribosylation factor 6", ()),
    ("SDCBP", "2a", "Syndecan binding protein (syntenin-1)", ("SYNTENIN", "SYNTENIN-1")),
    # 2b cytosolic, promiscuous incorporation
    ("HSPA8", "2b", "Heat shock protein family A member 8 (HSC70)", ("HSC70",)),
    ("HSPA1A", "2b", "Heat shock protein family A member 1A (HSP70)", ("HSP70",)),
    ("HSP90AB1", "2b", "Heat shock protein 90 alpha family class B member 1", ()),
    ("ACT*", "2b", "Actins", ()),
    ("TUB*", "2b", "Tubulins", ()),
    ("GAPDH", "2b", "Glyceraldehyde-3-phosphate dehydrogenase", ()),
    # 3 major non-EV co-isolated structures
    ("APOA1", "3", "Apolipoprotein A1", ()),
    ("APOA2", "3", "Apolipoprotein A2", ()),
    ("APOB", "3", "Apolipoprotein B (B-100/B-48)", ("APOB100", "APOB-100", "APOB48")),
    ("APOE", "3", "Apolipoprotein E", ()),
    ("ALB", "3", "Albumin", ("ALBUMIN",)),
    ("UMOD", "3", "Uromodulin (Tamm-Horsfall protein)", ("THP",)),
    ("RPL*", "3", "Ribosomal proteins, large subunit", ()),
    ("RPS*", "3", "Ribosomal proteins, small subunit", ()),
    # 4 other intracellular compartments
    ("H1-*", "4", "Histone H1 family", ()),
    ("H2A*", "4", "Histone H2A family", ()),
    ("H2B*", "4", "Histone H2B family", ()),
    ("H3*", "4", "Histone H3 family", ()),
    ("H4*", "4", "Histone H4 family", ()),
    ("LMNA", "4", "Lamin A/C", ()),
    ("IMMT", "4", "Inner membrane mitochondrial protein", ()),
    ("CYC1", "4", "Cytochrome c1", ()),
    ("TOMM20", "4", "Translocase of outer mitochondrial membrane 20", ()),
    ("CANX", "4", "Calnexin", ("CALNEXIN",)),
    ("HSP90B1", "4", "Heat shock protein 90 beta family member 1 (GRP94)", ("GRP94",)),
    ("HSPA5", "4", "Heat shock protein family A member 5 (BiP)", ("BIP", "GRP78")),
    ("GOLGA2", "4", "Golgin A2 (GM130)", ("GM130",)),
    ("MAP1LC3A", "4", "Microtubule associated protein 1 light chain 3 alpha", ("LC3A",)),
    ("ACTN1", "4", "Actinin alpha 1", ()),
    ("ACTN4", "4", "Actinin alpha 4", ()),
    ("KRT18", "4", "Keratin 18", ()),
    ("AGO*", "4", "Argonaute proteins", ()),
    # 5 secreted / extracellular-associated
    ("TGFB1", "5", "Transforming growth factor beta 1", ()),
    ("TGFB2", "5", "Transforming growth factor beta 2", ()),
    ("IFNG", "5", "Interferon gamma", ()),
    ("VEGFA", "5", "Vascular endothelial growth factor A", ()),
    ("FGF1", "5", "Fibroblast growth factor 1", ()),
    ("FGF2", "5", "Fibroblast growth factor 2", ()),
    ("PDGF*", "5", "Platelet-derived growth factors", ()),
    ("EGF", "5", "Epidermal growth factor", ()),
    ("IL*", "5", "Interleukins", ()),
    ("FN1", "5", "Fibronectin 1", ()),
    ("COL*", "5", "Collagens", ()),
    ("LGALS3BP", "5", "Galectin 3 binding protein", ()),
    ("CD5L", "5", "CD5 molecule like", ()),
    ("FGA", "5", "Fibrinogen alpha chain", ()),
    ("FGB", "5", "Fibrinogen beta chain", ()),
    ("FGG", "5", "Fibrinogen gamma chain", ()),
)


def load_builtin_markers(marker_model) -> int:
    """Create the built-in rows that are missing (a lab's edits to existing rows stay).
    Takes the model as an argument so a data migration can pass its historical model."""
    existing = set(marker_model.objects.values_list("symbol", flat=True))
    new = [
        marker_model(
            symbol=symbol,
            category=category,
            name=name,
            aliases=sorted(aliases),
            is_builtin=True,
            source=SOURCE,
        )
        for symbol, category, name, aliases in BUILTIN_MARKERS
        if symbol not in existing
    ]
    marker_model.objects.bulk_create(new)
    return len(new)
