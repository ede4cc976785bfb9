"""The building blocks every part of the OpenAPI document uses: a schema reference, a JSON
response, the error responses of an operation, a JSON request body, an optional query value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}


def ref(name: str) -> dict[str, Any]:
    """A reference to ``components/schemas/<name>``."""
    return {"$ref": f"#/components/schemas/{name}"}


def resp(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """A JSON response (an Error when no schema is given)."""
    return {"description": description, "content": {"application/json": {"schema": schema or ERROR}}}


def errors(texts: Mapping[int, str], *codes: int) -> dict[str, Any]:
    """The Error responses of ``codes``, each described by ``texts``."""
    return {str(c): resp(texts[c]) for c in codes}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """A required JSON request body."""
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def or_empty(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter's schema that also accepts the empty string, read as if absent
    (what an HTML form sends for a blank filter)."""
    return {"anyOf": [schema, {"type": "string", "maxLength": 0}]}
