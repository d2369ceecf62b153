"""Unit conversion at the edges: volumes arrive as mL, µL or L and are stored in mL."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError

# Both the micro sign (U+00B5) and Greek mu (U+03BC) reach us from keyboards and spreadsheets.
_VOLUME_FACTORS = {
    "ml": Decimal(1),
    "µl": Decimal("0.001"),
    "μl": Decimal("0.001"),
    "ul": Decimal("0.001"),
    "l": Decimal(1000),
}
VOLUME_UNITS = ("mL", "µL", "L")
VOLUME_DECIMAL_PLACES = 4
# NUMERIC(12, 4) holds < 10^8 mL; anything near that is a typing error anyway.
MAX_VOLUME_ML = Decimal(10) ** 8


def volume_to_ml(value: object, unit: str | None = "mL") -> Decimal:
    """Convert ``value`` given in ``unit`` to mL; raise ValidationError for unknown units."""
    key = (unit or "mL").strip().lower().replace(" ", "")
    if key not in _VOLUME_FACTORS:
        raise ValidationError(
            f"Unknown volume unit {unit!r}; use one of {', '.join(VOLUME_UNITS)}.", code="unit"
        )
    number = value if isinstance(value, Decimal) else parse_decimal(value)
    if not number.is_finite():
        raise ValidationError(f"{value!r} is not a finite number.", code="invalid")
    ml = number * _VOLUME_FACTORS[key]
    if abs(ml) >= MAX_VOLUME_ML:
        raise ValidationError(
            f"{value} {unit} is too large to be a plausible volume (at most 8 digits before the decimal point in mL).",
            code="invalid",
        )
    return ml.quantize(Decimal(1).scaleb(-VOLUME_DECIMAL_PLACES))


def parse_decimal(value: object) -> Decimal:
    """Parse a number typed by a person: ``1.5`` and the decimal comma ``1,5`` are accepted.

    ``1,000`` is refused as ambiguous (thousands separator or decimal comma?).
    """
    text = str(value).strip().replace("\u00a0", "").replace(" ", "")
    if "," in text:
        whole, _, fraction = text.partition(",")
        if "." in text or "," in fraction or len(fraction) == 3:
            raise ValidationError(
                f"{value!r} is ambiguous; write the number without thousands separators.",
                code="invalid",
            )
        text = f"{whole}.{fraction}"
    try:
        number = Decimal(text)
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{value!r} is not a number.", code="invalid") from None
    if not number.is_finite():  # "NaN", "sNaN", "Infinity" parse, but are no amount
        raise ValidationError(f"{value!r} is not a finite number.", code="invalid")
    return number
