"""Which tube an instrument file measured: accessions found in the file's sample name,
description or file name, among the tubes the uploader may record results on. When no
single tube matches, the reason is what the review page shows."""

from __future__ import annotations

import re
from dataclasses import dataclass

from samples.models import Aliquot, Sample
from samples.models.studies import ACCESSION_PREFIX

from .permissions import instrument_of

# Accession tokens inside a sample name, e.g. "EXO-000123_1to1000" or "exo-000123 rep2".
_ACCESSION = re.compile(
    rf"(?<![A-Za-z0-9]){re.escape(ACCESSION_PREFIX)}\d+(?!\d)", flags=re.IGNORECASE
)


@dataclass(frozen=True)
class Match:
    aliquot: Aliquot | None
    reason: str = ""


def accession_tokens(*texts: str) -> list[str]:
    """Accessions written anywhere in the texts, upper-cased, in order, without repeats."""
    found: dict[str, None] = {}
    for text in texts:
        for token in _ACCESSION.findall(text or ""):
            found[token.upper()] = None
    return list(found)


def match_aliquot(*, texts: list[str], fallback: str = "", uploader) -> Match:
    """The one tube whose accession appears in the file's sample name/description (or, if
    they name none, in the file name), among the tubes the uploader may record results on.

    Instrument accounts serve the whole lab, so they match any tube; people match tubes of
    studies where they are editor or manager.
    """
    tokens = accession_tokens(*texts)
    where = "the sample name or description"
    if not tokens:
        tokens = accession_tokens(fallback)
        where = "the file name"
    if not tokens:
        described = "; ".join(f'"{text}"' for text in texts if text) or "nothing"
        return Match(
            None,
            f"No tube accession ({ACCESSION_PREFIX}…) found in the sample name or "
            f"description ({described}) or in the file name. Pick the measured tube.",
        )
    tubes = list(recordable_aliquots(uploader).filter(accession__in=tokens).order_by("accession"))
    if len(tubes) == 1:
        return Match(tubes[0])
    if len(tubes) > 1:
        listed = ", ".join(tube.accession for tube in tubes)
        return Match(None, f"Several tubes match {where}: {listed}. Pick the measured tube.")
    visible = (
        Sample.objects.all() if instrument_of(uploader) else Sample.objects.visible_to(uploader)
    )
    samples = set(visible.filter(accession__in=tokens).values_list("accession", flat=True))
    # Tubes the uploader can see but not record on (viewer in their study).
    seen = set(
        Aliquot.objects.visible_to(uploader)
        .filter(accession__in=tokens)
        .values_list("accession", flat=True)
    )
    parts = []
    for token in tokens:
        if token in samples:
            parts.append(f"{token} is a sample, not a tube")
        elif token in seen:
            parts.append(
                f"you can see {token} but need the editor role in its study to record results"
            )
        else:
            parts.append(f"no tube you can record results on has accession {token}")
    return Match(None, f"In {where}: {'; '.join(parts)}. Pick the measured tube.")


def recordable_aliquots(uploader):
    if instrument_of(uploader) is not None:
        return Aliquot.objects.all()
    return Aliquot.objects.editable_by(uploader)
