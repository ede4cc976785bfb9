"""Forms: JSON Schemas in forms/<key>.json, validated server-side with jsonschema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flask_babel import gettext as _
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError

from app.errors import FieldError, NotFoundError, ValidationError


class FormRegistry:
    """The forms found in one folder, loaded and checked once."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._forms: dict[str, dict[str, Any]] = {}
        self._validators: dict[str, Draft202012Validator] = {}
        self.reload()

    def reload(self) -> None:
        """(Re)load every form; a broken schema stops start-up with its file named."""
        forms: dict[str, dict[str, Any]] = {}
        for path in sorted(self.folder.glob("*.json")):
            try:
                schema = json.loads(path.read_text(encoding="utf-8"))
                Draft202012Validator.check_schema(schema)
            except (ValueError, SchemaError) as exc:
                raise RuntimeError(f"form {path.name} is not a valid JSON Schema: {exc}") from exc
            forms[path.stem] = schema
        self._forms = forms
        self._validators = {
            key: Draft202012Validator(schema, format_checker=FormatChecker())
            for key, schema in forms.items()
        }

    @property
    def keys(self) -> set[str]:
        return set(self._forms)

    def get(self, key: str) -> dict[str, Any]:
        try:
            return self._forms[key]
        except KeyError:
            raise NotFoundError(f"no form {key!r}") from None

    def validate(self, key: str, data: Any) -> dict[str, Any]:
        """Return ``data`` if it satisfies form ``key``.

        Raises ValidationError with one FieldError per problem (dotted field paths).
        """
        validator = self._validators.get(key)
        if validator is None:
            raise NotFoundError(f"no form {key!r}")
        return validate_with(validator, data)


def validate_with(validator: Draft202012Validator, data: Any) -> dict[str, Any]:
    """Return ``data`` if ``validator`` (a form's schema) accepts it.

    Raises ValidationError with one FieldError per problem (dotted field paths).
    """
    if not isinstance(data, dict):
        raise ValidationError(_("The data must be a JSON object."), [FieldError("", _("must be an object"))])
    errors = [
        FieldError(_field_of(err), _message_of(err))
        for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if errors:
        raise ValidationError(_("Some fields need attention."), _dedupe(errors))
    return data


def _field_of(err: SchemaError) -> str:
    path = [str(p) for p in err.absolute_path]
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else ""
        path.append(missing)
    elif err.validator == "additionalProperties":
        extra = err.message.split("'")[1] if "'" in err.message else ""
        path.append(extra)
    return ".".join(path)


def _message_of(err: SchemaError) -> str:
    v, value = err.validator, err.validator_value
    messages = {
        "required": lambda: _("This field is required."),
        "additionalProperties": lambda: _("This field is not part of the form."),
        "maxLength": lambda: _("At most %(n)s characters.", n=value),
        "minLength": lambda: _("This field is required.") if value == 1 else _("At least %(n)s characters.", n=value),
        "pattern": lambda: _("The format is not valid."),
        "format": lambda: _("Enter a valid %(format)s.", format=_format_name(str(value))),
        "enum": lambda: _("Choose one of the listed options."),
        "const": lambda: _("Choose one of the listed options."),
        "type": lambda: _("Expected a value of type %(type)s.", type=_type_name(value)),
        "minItems": lambda: _("Give at least %(n)s.", n=value),
        "maxItems": lambda: _("Give at most %(n)s.", n=value),
        "uniqueItems": lambda: _("Each entry may appear only once."),
        "minimum": lambda: _("Must be at least %(n)s.", n=value),
        "maximum": lambda: _("Must be at most %(n)s.", n=value),
    }
    make = messages.get(str(v))
    return make() if make else _("The value is not valid.")


def _format_name(fmt: str) -> str:
    return {"date": _("date (YYYY-MM-DD)"), "email": _("e-mail address")}.get(fmt, fmt)


def _type_name(value: Any) -> str:
    names = {"string": _("text"), "integer": _("whole number"), "number": _("number"),
             "array": _("list"), "object": _("object"), "boolean": _("yes/no")}
    if isinstance(value, list):
        return " / ".join(str(names.get(v, v)) for v in value)
    return names.get(value, str(value))


def _dedupe(errors: list[FieldError]) -> list[FieldError]:
    seen: set[tuple[str, str]] = set()
    out = []
    for e in errors:
        if (e.field, e.message) not in seen:
            seen.add((e.field, e.message))
            out.append(e)
    return out


registry: FormRegistry | None = None


def configure(folder: Path) -> FormRegistry:
    """Load the forms folder; called once by create_app()."""
    global registry
    registry = FormRegistry(folder)
    return registry


def get_registry() -> FormRegistry:
    if registry is None:
        raise RuntimeError("forms.configure() was not called")
    return registry
