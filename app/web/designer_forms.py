"""The forms editor pages (admins only): the forms, and one form's JSON Schema in a text
area with its versions, the problems found, and a preview in Chinese and English side by
side, drawn by the same ``render_form`` macro as the task page.

Without JavaScript the Preview button posts the page; with it, the editor fetches the
preview fragment (``/designer/forms/<key>/preview``) a moment after each change.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from app.errors import FieldError, ForbiddenError, NotFoundError, ValidationError
from app.extensions import db, login_manager
from app.services import form_versions, forms
from app.services.designer import forms_editor
from app.web.auth import current
from app.web.formdata import Field, describe

bp = Blueprint("designer_forms", __name__, url_prefix="/designer/forms")

LANGUAGES = (("zh_CN", "zh", "zh-CN"), ("en", "en", "en"))  # locale, field-name prefix, HTML lang


@bp.before_request
def _admins_only() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if "admin" not in current().roles:
        raise ForbiddenError(_("Only process administrators may use the designer."))
    return None


@bp.get("")
def index() -> Any:
    new_key = request.args.get("new")
    if new_key is not None:
        if forms_editor.KEY.match(new_key):
            return redirect(url_for("designer_forms.edit", key=new_key))
        flash(_("A form key starts with a lowercase letter and has only a-z, 0-9 and _ (at most 100 characters)."),
              "error")
    return render_template("designer_forms.html", forms=form_versions.summaries(db.session))


@bp.get("/<key>")
def edit(key: str) -> Any:
    _check_key(key)
    history = form_versions.history(db.session, key)
    wanted = request.args.get("version", type=int)
    try:
        form: form_versions.Form | None = (form_versions.get(db.session, key, wanted) if wanted
                                           else form_versions.current(db.session, key))
    except NotFoundError:
        if wanted:
            raise
        form = None  # a new form: a review form to start from
    schema = form.schema if form else _starter()
    return _editor(key, history, text=_pretty(schema), shown=form, schema=schema, errors=[])


@bp.post("/<key>")
def save(key: str) -> Any:
    """Preview (nothing stored) or save the posted schema; the page again with the problems."""
    _check_key(key)
    text, comment = request.form.get("schema", ""), request.form.get("comment", "").strip()
    schema, errors = _checked(text)
    if request.form.get("action") == "save" and not errors:
        try:
            result = forms_editor.save(db.session, current(), key, schema, comment)
            db.session.commit()
        except ValidationError as exc:
            db.session.rollback()
            errors = list(exc.errors)
        except IntegrityError:
            db.session.rollback()
            errors = [FieldError("", _("Another version of this form was saved meanwhile; reload and try again."))]
        else:
            if result.created:
                flash(_("Saved as version %(version)s.", version=result.version), "success")
            else:
                flash(_("Unchanged: identical to version %(version)s; no new version.", version=result.version),
                      "info")
            return redirect(url_for("designer_forms.edit", key=key))
    history = form_versions.history(db.session, key)
    return _editor(key, history, text=text, shown=None, schema=None if errors else schema, errors=errors,
                   comment=comment), (422 if errors else 200)


@bp.post("/<key>/preview")
def preview(key: str) -> Any:
    """The preview fragment (or the problems) for the editor's script. Stores nothing."""
    _check_key(key)
    schema, errors = _checked(request.form.get("schema", ""))
    html = render_template("designer_forms_preview.html", previews=[] if errors else _previews(schema), errors=errors)
    return html, (422 if errors else 200)


# ------------------------------------------------------------------------------ helpers


def _check_key(key: str) -> None:
    if not forms_editor.KEY.match(key):
        abort(404)


def _checked(text: str) -> tuple[Any, list[FieldError]]:
    """The parsed schema and its problems (the same checks as saving)."""
    try:
        schema = forms_editor.parse(text)
    except ValidationError as exc:
        return None, list(exc.errors)
    return schema, forms_editor.problems(schema)


def _editor(key: str, history: list[form_versions.VersionInfo], *, text: str, shown: form_versions.Form | None,
            schema: Any, errors: list[FieldError], comment: str = "") -> str:
    previews = _previews(schema) if schema is not None and not errors else []
    return render_template("designer_forms_edit.html", key=key, history=history, text=text, shown=shown,
                           comment=comment, errors=errors, previews=previews,
                           title=_title(schema, key), is_new=not history and key not in forms.get_registry().keys)


def _previews(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The form drawn in each language, with field ids of its own per language."""
    out = []
    for locale, prefix, html_lang in LANGUAGES:
        with force_locale(locale):
            fields = describe(schema, locale)
            _prefix(fields, f"{prefix}-")
            html = render_template("designer_forms_pane.html", schema=schema, fields=fields)
        out.append({"code": prefix, "lang": html_lang, "html": html})
    return out


def _prefix(fields: list[Field], prefix: str) -> None:
    for f in fields:
        f.name = prefix + f.name
        _prefix(f.columns, prefix)
        for row in f.rows:
            _prefix(row, prefix)


def _title(schema: Any, key: str) -> str:
    if isinstance(schema, dict) and isinstance(schema.get("title"), str) and schema["title"].strip():
        return str(schema["title"])
    return key


def _pretty(schema: Any) -> str:
    return json.dumps(schema, ensure_ascii=False, indent=2)


def _starter() -> dict[str, Any]:
    """A new form starts as a review form (the convention: decision and comment)."""
    return {
        "$schema": forms_editor.DIALECT,
        "title": "新表单",
        "x-title-en": "New form",
        "type": "object",
        "properties": {
            "decision": {
                "title": "审查结论", "x-title-en": "Decision", "type": "string",
                "enum": ["approve", "reject", "return"],
                "x-enum-titles": {"approve": {"zh": "通过", "en": "Approve"},
                                  "reject": {"zh": "不通过", "en": "Reject"},
                                  "return": {"zh": "退回补正", "en": "Return for correction"}},
                "x-ui": {"widget": "radio"},
            },
            "comment": {"title": "审查意见", "x-title-en": "Review comment", "type": "string", "minLength": 1,
                        "maxLength": 4000, "x-ui": {"widget": "textarea", "rows": 4}},
        },
        "required": ["decision", "comment"],
        "additionalProperties": False,
    }
