"""The forms editor (admins only): check a form's JSON Schema the way the task pages will
use it, and save it as a new version.

A schema is refused when it is not valid JSON Schema 2020-12, has no title, or has a field
the server-side renderer (``app/web/formdata.py`` and the ``render_form`` macro) cannot
show. Problems come as FieldErrors whose ``field`` is a JSON Pointer into the schema ("" is
the whole schema), or ``key`` / ``comment`` for the other inputs.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from jsonschema import Draft202012Validator
from sqlalchemy.orm import Session

from app.errors import FieldError, ValidationError
from app.models import User
from app.services import form_versions
from app.services.designer.access import require_admin

KEY = re.compile(r"^[a-z][a-z0-9_]{0,99}$")
FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
MAX_CHARS = 200_000
MAX_COMMENT = 500
MAX_PROBLEMS = 30
MAX_DEPTH = 32
DIALECT = "https://json-schema.org/draft/2020-12/schema"
TYPES = ("string", "integer", "number", "boolean", "array")
COLUMN_TYPES = ("string", "integer", "number")
CHOICE_WIDGETS = ("select", "radio")
WIDGETS = {"string": ("text", "textarea", "date", "email"), "integer": ("number",), "number": ("number",),
           "boolean": ("checkbox",), "array": ("checkboxes", "catalog")}
TEXTS = ("title", "x-title-en", "description", "x-description-en")


@dataclass(frozen=True)
class SaveResult:
    key: str
    version: int
    sha256: str
    created: bool  # False: identical content was already stored as ``version``


def parse(text: str) -> Any:
    """The JSON in ``text``. Raises ValidationError naming the line and column of a syntax error."""
    if len(text) > MAX_CHARS:
        raise ValidationError(_("The form cannot be saved."), [_too_large()])
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        message = _("This is not valid JSON: %(error)s (line %(line)s, column %(column)s).",
                    error=exc.msg, line=exc.lineno, column=exc.colno)
        raise ValidationError(_("The form cannot be saved."), [FieldError("", message)]) from None
    except RecursionError:
        raise ValidationError(_("The form cannot be saved."), [_too_deep()]) from None


def problems(schema: Any) -> list[FieldError]:
    """Why ``schema`` cannot be used as a form (empty when it can). Stores nothing."""
    if not isinstance(schema, dict):
        return [FieldError("", _("A form is a JSON object."))]
    deepest, finite = _shape(schema)
    if deepest > MAX_DEPTH:
        return [_too_deep()]
    if not finite:
        return [FieldError("", _("Numbers must be finite (no Infinity or NaN)."))]
    if len(form_versions.canonical_json(schema)) > MAX_CHARS:
        return [_too_large()]
    found = _schema_problems(schema)
    if not found:
        found = _form_problems(schema)
    return found[:MAX_PROBLEMS]


def save(session: Session, user: User, key: str, schema: Any, comment: str = "") -> SaveResult:
    """Store ``schema`` as the next version of form ``key`` (identical content: the stored
    version, created=False), with an audit entry. Flushes; the caller commits.

    Raises ForbiddenError for non-admins and ValidationError naming each problem (nothing
    is stored then).
    """
    require_admin(user)
    found = []
    if not isinstance(key, str) or not KEY.match(key):
        found.append(FieldError("key", _("A form key starts with a lowercase letter and has only a-z, 0-9 and _ "
                                         "(at most 100 characters).")))
    if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
        found.append(FieldError("comment", _("The comment is text of at most %(n)s characters.", n=MAX_COMMENT)))
    found += problems(schema)
    if found:
        raise ValidationError(_("The form cannot be saved: %(n)s problem(s).", n=len(found)), found)
    row, created = form_versions.store(session, key, schema, actor=user, comment=comment.strip())
    return SaveResult(key, row.version, row.sha256, created)


def pointer(*parts: Any) -> str:
    """A JSON Pointer (RFC 6901) to ``parts``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _shape(value: Any) -> tuple[int, bool]:
    """How deeply objects and arrays nest in ``value``, and whether every number is finite;
    without recursion, so that any depth is fine."""
    deepest, finite, stack = 0, True, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
        elif isinstance(node, float) and not math.isfinite(node):
            finite = False
    return deepest, finite


def _too_deep() -> FieldError:
    return FieldError("", _("The form is nested too deeply (at most %(n)s levels).", n=MAX_DEPTH))


def _too_large() -> FieldError:
    return FieldError("", _("The form is too large (at most %(n)s characters).", n=MAX_CHARS))


def _schema_problems(schema: dict[str, Any]) -> list[FieldError]:
    """Problems as JSON Schema 2020-12 (the meta-schema, regular expressions, references)."""
    if schema.get("$schema", DIALECT) != DIALECT:
        return [FieldError("/$schema", _("Only JSON Schema 2020-12 is supported: %(url)s", url=DIALECT))]
    meta = Draft202012Validator(Draft202012Validator.META_SCHEMA, format_checker=Draft202012Validator.FORMAT_CHECKER)
    found = [FieldError(pointer(*err.absolute_path), _("Not valid JSON Schema: %(error)s", error=err.message))
             for err in sorted(meta.iter_errors(schema), key=lambda e: [str(p) for p in e.absolute_path])]
    found += [FieldError(path, _("References ($ref) are not supported; write the schema out in full."))
              for path in _paths_of_keys(schema, ("$ref", "$dynamicRef"))]
    if not found:
        try:
            list(Draft202012Validator(schema).iter_errors({}))
        except Exception as exc:  # a schema the validator cannot apply must not reach a task
            found.append(FieldError("", _("Not valid JSON Schema: %(error)s", error=str(exc)[:300])))
    return _dedupe(found)


def _paths_of_keys(node: Any, keys: tuple[str, ...], *path: Any) -> list[str]:
    if isinstance(node, dict):
        hits = [pointer(*path, k) for k in node if k in keys]
        for k, v in node.items():
            hits += _paths_of_keys(v, keys, *path, k)
        return hits
    if isinstance(node, list):
        return [hit for i, v in enumerate(node) for hit in _paths_of_keys(v, keys, *path, i)]
    return []


def _form_problems(schema: dict[str, Any]) -> list[FieldError]:
    """Problems the renderer has with a valid JSON Schema."""
    found: list[FieldError] = []
    if schema.get("type") != "object":
        found.append(FieldError("/type", _('A form is an object: set "type": "object".')))
    if not _text(schema.get("title")):
        found.append(FieldError("/title", _("The form needs a title (its Chinese name).")))
    found += _text_problems(schema, ())
    if "x-prefill" in schema and not _text(schema["x-prefill"]):
        found.append(FieldError("/x-prefill", _("x-prefill names a step whose data fills the form in.")))
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        found.append(FieldError("/properties", _('The form needs "properties": one entry per field.')))
        return found
    for name, node in properties.items():
        found += _field_problems(name, node, ("properties",))
    for i, name in enumerate(schema.get("required") or []):
        if name not in properties:
            found.append(FieldError(pointer("required", i), _("%(name)s is required but is not a field of the form.",
                                                               name=name)))
    return found


def _field_problems(name: str, node: Any, at: tuple[Any, ...], *, column: bool = False) -> list[FieldError]:
    path = (*at, name)
    if not FIELD_NAME.match(name):
        return [FieldError(pointer(*path), _("Field names start with a letter and have only letters, digits and _ "
                                             "(at most 64)."))]
    if not isinstance(node, dict):
        return [FieldError(pointer(*path), _("A field is an object with a title and a type."))]
    found = _text_problems(node, path)
    if not _text(node.get("title")):
        found.append(FieldError(pointer(*path, "title"), _("Every field needs a title (its Chinese label).")))
    kind = node.get("type")
    allowed = COLUMN_TYPES if column else TYPES
    if kind == "object":
        found.append(FieldError(pointer(*path, "type"), _("Nested objects cannot be shown; use a table (an array "
                                                          "of objects) or separate fields.")))
        return found
    if kind not in allowed:
        found.append(FieldError(pointer(*path, "type"), _("The type must be one of: %(types)s.",
                                                          types=", ".join(allowed))))
        return found
    ui = node.get("x-ui", {})
    if not isinstance(ui, dict):
        return [*found, FieldError(pointer(*path, "x-ui"), _("x-ui is an object of display hints."))]
    if column and "enum" in node:
        found.append(FieldError(pointer(*path, "enum"), _("A column of a table cannot offer choices; use a field "
                                                          "of its own.")))
    found += _enum_problems(node, path)
    found += _widget_problems(node, str(kind), ui, path, column=column)
    if kind == "array" and not column:
        found += _list_problems(node, ui, path)
    return found


def _widget_problems(node: dict[str, Any], kind: str, ui: dict[str, Any], path: tuple[Any, ...], *,
                     column: bool) -> list[FieldError]:
    found = []
    allowed = CHOICE_WIDGETS if "enum" in node and not column else WIDGETS[kind]
    widget = ui.get("widget")
    if widget is not None and widget not in allowed:
        found.append(FieldError(pointer(*path, "x-ui", "widget"),
                                _("The widget %(widget)s cannot show this field; use one of: %(allowed)s.",
                                  widget=json.dumps(widget, ensure_ascii=False)[:60], allowed=", ".join(allowed))))
    rows = ui.get("rows")
    if rows is not None and not (isinstance(rows, int) and not isinstance(rows, bool) and 1 <= rows <= 40):
        found.append(FieldError(pointer(*path, "x-ui", "rows"), _("rows is a whole number from 1 to 40.")))
    return found


def _list_problems(node: dict[str, Any], ui: dict[str, Any], path: tuple[Any, ...]) -> list[FieldError]:
    items = node.get("items")
    if not isinstance(items, dict):
        return [FieldError(pointer(*path, "items"), _('A list field needs "items": what each entry is.'))]
    if items.get("type") == "object":
        columns = items.get("properties")
        if not isinstance(columns, dict) or not columns:
            return [FieldError(pointer(*path, "items", "properties"), _("A table needs its columns in "
                                                                        '"items" → "properties".'))]
        found = [e for k, c in columns.items() for e in _field_problems(k, c, (*path, "items", "properties"),
                                                                       column=True)]
        for i, name in enumerate(items.get("required") or []):
            if name not in columns:
                found.append(FieldError(pointer(*path, "items", "required", i),
                                        _("%(name)s is required but is not a column of the table.", name=name)))
        return found
    if ui.get("widget") == "catalog":
        return []
    found = _enum_problems(items, (*path, "items"))
    if not isinstance(items.get("enum"), list) or not items["enum"]:
        found.append(FieldError(pointer(*path, "items", "enum"), _('A list is shown as checkboxes: give "items" an '
                                                                   '"enum" of the choices, or make it a table.')))
    return found


def _enum_problems(node: dict[str, Any], path: tuple[Any, ...]) -> list[FieldError]:
    found = []
    enum = node.get("enum")
    if enum is not None and not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in enum):
        found.append(FieldError(pointer(*path, "enum"), _("Choices are texts or numbers.")))
    titles = node.get("x-enum-titles")
    if titles is not None:
        if not isinstance(titles, dict):
            return [*found, FieldError(pointer(*path, "x-enum-titles"),
                                       _('x-enum-titles maps each choice to {"zh": ..., "en": ...}.'))]
        for value, names in titles.items():
            if not isinstance(names, dict) or not all(isinstance(names.get(k, ""), str) for k in ("zh", "en")):
                found.append(FieldError(pointer(*path, "x-enum-titles", value),
                                        _('x-enum-titles maps each choice to {"zh": ..., "en": ...}.')))
    return found


def _text_problems(node: dict[str, Any], path: tuple[Any, ...]) -> list[FieldError]:
    return [FieldError(pointer(*path, k), _("%(name)s must be text.", name=k))
            for k in TEXTS if k in node and not isinstance(node[k], str)]


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    out: list[FieldError] = []
    for error in errors:
        if error not in out:
            out.append(error)
    return out
