"""HTML forms from JSON Schema: field descriptions for the templates, and typed parsing of
posted form data into the JSON the schema validates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

EXTRA_ROWS = 3


@dataclass
class Option:
    value: str
    label: str


@dataclass
class Field:
    name: str  # HTML name, e.g. "personnel-0-name"
    path: str  # dotted error path, e.g. "personnel.0.name"
    title: str
    description: str
    widget: str  # text, textarea, select, radio, checkboxes, date, number, email, rows, checkbox
    required: bool
    options: list[Option] = field(default_factory=list)
    attrs: dict[str, Any] = field(default_factory=dict)
    columns: list[Field] = field(default_factory=list)  # rows: the item fields
    rows: list[list[Field]] = field(default_factory=list)


def _label(node: dict[str, Any], key: str, locale: str) -> str:
    if locale.startswith("en"):
        return str(node.get(f"x-{key}-en") or node.get(key) or "")
    return str(node.get(key) or "")


def _options(node: dict[str, Any], locale: str) -> list[Option]:
    titles = node.get("x-enum-titles", {})
    lang = "en" if locale.startswith("en") else "zh"
    return [Option(str(v), str(titles.get(str(v), {}).get(lang, v))) for v in node.get("enum", [])]


def describe(schema: dict[str, Any], locale: str, values: dict[str, Any] | None = None) -> list[Field]:
    """The fields of an object schema, in order, ready for the form macro."""
    values = values or {}
    required = set(schema.get("required", []))
    return [
        _field(name, name, node, name in required, locale, values.get(name))
        for name, node in schema.get("properties", {}).items()
    ]


def _field(name: str, path: str, node: dict[str, Any], required: bool, locale: str, value: Any) -> Field:
    ui = node.get("x-ui", {})
    kind = node.get("type")
    attrs: dict[str, Any] = {}
    for key in ("maxLength", "minLength", "pattern", "minimum", "maximum"):
        if key in node:
            attrs[key] = node[key]
    f = Field(name, path, _label(node, "title", locale), _label(node, "description", locale),
              "text", required, attrs=attrs)
    if kind == "array" and node.get("items", {}).get("type") == "object":
        item = node["items"]
        item_required = set(item.get("required", []))
        count = min(len(value or []) + EXTRA_ROWS, node.get("maxItems", 20))
        count = max(count, node.get("minItems", 1))
        f.widget = "rows"
        f.columns = [_field(k, k, n, k in item_required, locale, None) for k, n in item["properties"].items()]
        for i in range(count):
            row_value = (value or [])[i] if i < len(value or []) else {}
            f.rows.append([
                _field(f"{name}-{i}-{k}", f"{path}.{i}.{k}", n, k in item_required, locale, row_value.get(k))
                for k, n in item["properties"].items()
            ])
        return f
    if kind == "array" and ui.get("widget") == "catalog":
        f.widget = "catalog"  # options come from the catalogue, rendered by the template
    elif kind == "array":
        f.widget = "checkboxes"
        f.options = _options(node.get("items", {}), locale)
    elif "enum" in node:
        f.widget = ui.get("widget", "select")
        f.options = _options(node, locale)
    elif kind in ("integer", "number"):
        f.widget = "number"
    elif kind == "boolean":
        f.widget = "checkbox"
    elif node.get("format") == "date":
        f.widget = "date"
    elif node.get("format") == "email":
        f.widget = "email"
    else:
        f.widget = ui.get("widget", "text")
    f.attrs["rows"] = ui.get("rows", 4)
    f.attrs["value"] = value
    return f


def parse(schema: dict[str, Any], form: MultiDict[str, str]) -> dict[str, Any]:
    """Posted form fields -> JSON typed by the schema. Empty inputs are left out, so that
    'required' reports them; values that do not convert are kept as text, so that 'type'
    reports them and the typed value is shown again."""
    data: dict[str, Any] = {}
    for name, node in schema.get("properties", {}).items():
        value = _parse_node(name, node, form)
        if value is not None:
            data[name] = value
    return data


def _parse_node(name: str, node: dict[str, Any], form: MultiDict[str, str]) -> Any:
    kind = node.get("type")
    if kind == "array" and node.get("items", {}).get("type") == "object":
        rows = []
        for i in range(node.get("maxItems", 20) + EXTRA_ROWS):
            row = {}
            for key, child in node["items"].get("properties", {}).items():
                value = _parse_node(f"{name}-{i}-{key}", child, form)
                if value is not None:
                    row[key] = value
            if row:
                rows.append(row)
        return rows or None
    if kind == "array":
        values = [v for v in form.getlist(name) if v != ""]
        return values or None
    raw = form.get(name)
    if kind == "boolean":
        return raw is not None
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip() if kind != "string" or node.get("x-ui", {}).get("widget") != "textarea" else raw
    if kind == "integer":
        try:
            return int(raw)
        except ValueError:
            return raw
    if kind == "number":
        try:
            return float(raw)
        except ValueError:
            return raw
    return raw
