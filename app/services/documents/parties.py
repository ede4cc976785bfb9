"""Helpers that turn rows into the plain dicts the templates show."""

from __future__ import annotations

from typing import Any

from app.models import Organisation


def party(org: Organisation, role: str, **extra: Any) -> dict[str, Any]:
    """A party block for the ``parties`` context key: role ("甲方"), name, credit code, and
    any extra fields (``representative``, ``address``, ``contact``)."""
    block: dict[str, Any] = {"role": role, "name": org.name}
    if org.credit_code:
        block["credit_code"] = org.credit_code
    block.update({k: v for k, v in extra.items() if v})
    return block
