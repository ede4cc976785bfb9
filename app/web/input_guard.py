"""Text no database can store is refused at the door: NUL characters (PostgreSQL refuses
them in text and JSON) and unpaired UTF-16 surrogates (which a JSON ``"\\ud800"`` escape
yields and no UTF-8 encoder accepts). Without this guard they reach the driver and come back
as 500s; with it a path is a 404 and a query, form or JSON body a 422 naming the field."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, abort, request

from app.errors import FieldError, ValidationError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
# Blueprints that check their JSON bodies themselves, with errors of their own (the designer
# answers a bad diagram upload with `invalid_definition` naming the file, the forms API
# with JSON Pointer paths).
SELF_CHECKED_BODIES = frozenset({"designer_api", "forms_api"})
MAX_DEPTH = 64  # JSON nested deeper than this is refused: no request needs it, parsers and validators recurse
_UNSTORABLE_TEXT = "contains a character that cannot be stored (NUL or a lone surrogate)"


def init_app(app: Flask) -> None:
    app.before_request(_refuse_unstorable_text)


def _refuse_unstorable_text() -> None:
    if _UNSTORABLE.search(request.path):
        abort(404)  # no route, row or file has such a name
    errors = [FieldError(name, _UNSTORABLE_TEXT)
              for name, value in request.args.items(multi=True) if _UNSTORABLE.search(name + value)]
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.mimetype in _FORM_TYPES:
            errors += [FieldError(name, _UNSTORABLE_TEXT)
                       for name, value in request.form.items(multi=True) if _UNSTORABLE.search(name + value)]
        elif (request.is_json or request.path.startswith("/api/")) and request.blueprint not in SELF_CHECKED_BODIES:
            errors += _json_errors()
    if errors:
        raise ValidationError("the request contains text that cannot be stored", errors[:20])


def _json_errors() -> list[FieldError]:
    try:
        body = request.get_json(silent=True, force=True)
    except RecursionError:  # the json module recurses once per level
        body = None
        too_deep = True
    else:
        too_deep = False
    paths, deepest = _walk(body)
    if too_deep or deepest > MAX_DEPTH:
        raise ValidationError("the request body is nested too deeply",
                              [FieldError("", f"objects and arrays may nest at most {MAX_DEPTH} levels")])
    return [FieldError(path, _UNSTORABLE_TEXT) for path in paths]


def unstorable_paths(value: Any) -> tuple[list[str], int]:
    """For blueprints that check their own bodies: the dotted paths of unstorable text, and the depth."""
    return _walk(value)


def _walk(value: Any) -> tuple[list[str], int]:
    """The dotted paths of strings (keys included) holding unstorable text, and how deeply
    objects and arrays nest; iterative, so any depth is safe to measure."""
    found: list[str] = []
    deepest = 0
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if _UNSTORABLE.search(item):
                found.append(path)
        elif isinstance(item, dict | list):
            deepest = max(deepest, depth + 1)
            if deepest > MAX_DEPTH:
                break
            pairs = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in pairs:
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and _UNSTORABLE.search(key):
                    found.append(where)
                stack.append((child, where, depth + 1))
    return sorted(found), deepest
