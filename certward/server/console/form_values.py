"""Reading console form fields, and naming the field a service error belongs to.

Form fields arrive as text; a field that cannot be read is reported next to
itself (``errors[field]``) before any service is called. A service error is
placed next to the field it is about by its class (:func:`field_errors`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time

from certward.errors import CertwardError

__all__ = ["FormErrors", "field_errors", "optional_date", "optional_int", "text_list"]


class FormErrors(dict[str, str]):
    """Messages by field name (``_form`` for the whole form); empty when all is well."""


def optional_int(
    errors: FormErrors, field: str, text: str, *, label: str, low: int, high: int
) -> int | None:
    """``text`` as a whole number in ``low..high`` (None when blank); else an error on ``field``."""
    text = text.strip()
    if not text:
        return None
    try:
        value = int(text)
    except ValueError:
        errors[field] = f"{label} must be a whole number"
        return None
    if not low <= value <= high:
        errors[field] = f"{label} must be {low}-{high}, not {value}"
        return None
    return value


def optional_date(errors: FormErrors, field: str, text: str, *, label: str) -> datetime | None:
    """``YYYY-MM-DD`` as midnight UTC of that day (None when blank); else an error on ``field``."""
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        errors[field] = f"{label} must be a date (YYYY-MM-DD)"
        return None
    return datetime.combine(day, time(), tzinfo=UTC)


def text_list(text: str) -> list[str]:
    """Entries of a text area or comma list: one per line or comma, blanks dropped."""
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def field_errors(
    exc: CertwardError, fields: Mapping[type[CertwardError], str], *, default: str = "_form"
) -> FormErrors:
    """``{field: exc.message}`` for the first class in ``fields`` that ``exc`` is an instance of."""
    for cls, field in fields.items():
        if isinstance(exc, cls):
            return FormErrors({field: exc.message})
    return FormErrors({default: exc.message})
