"""Query-string filters shared by the list pages and their APIs: bad values are a 422 naming
the parameter, never a 500 (ids beyond a database integer, pages beyond MAX_PAGE)."""

from __future__ import annotations

from datetime import date

from flask import request
from flask_babel import gettext as _

from app.errors import FieldError, ValidationError

MAX_ID = 2**31 - 1  # the largest id a database integer column holds (PostgreSQL INTEGER)


def query_int(name: str, default: int | None = None, maximum: int = MAX_ID) -> int | None:
    """A whole number from 1 to ``maximum``, or ``default`` when the parameter is absent or empty."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not 1 <= int(raw) <= maximum:
        raise ValidationError(_("The filter is not valid."),
                              [FieldError(name, _("Enter a whole number from 1 to %(n)s.", n=maximum))])
    return int(raw)


def query_date(name: str) -> date | None:
    """A calendar date (YYYY-MM-DD), or None when absent or empty."""
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(_("The filter is not valid."), [FieldError(name, _("Enter a date as YYYY-MM-DD."))]) from None
