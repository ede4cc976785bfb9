"""Locale choice (zh_CN by default, en second) and template helpers for labels and times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, has_request_context, request, session
from flask_babel import format_datetime, get_locale
from flask_babel import gettext as _
from flask_login import current_user

from app.errors import NotFoundError
from app.services import form_versions
from app.services.articles import article_label
from app.services.clock import clock
from app.services.roles import role_label

LOCALES = ("zh_CN", "en")


def select_locale() -> str:
    if not has_request_context():
        return "zh_CN"
    chosen = session.get("locale")
    if chosen in LOCALES:
        return str(chosen)
    if request.args.get("lang") in LOCALES:
        return str(request.args["lang"])
    user_locale = getattr(current_user, "locale", None) if current_user else None
    return user_locale if user_locale in LOCALES else "zh_CN"


def lang() -> str:
    return str(get_locale() or "zh_CN")


def localized(node: dict[str, Any] | None, key: str = "title") -> str:
    """A zh/en label from a schema-like node (``title`` / ``x-title-en``)."""
    if not node:
        return ""
    if lang().startswith("en"):
        return str(node.get(f"x-{key}-en") or node.get(key) or "")
    return str(node.get(key) or "")


def process_name(name: str) -> str:
    """Process names are written "中文 / English"; show the half for the locale."""
    if " / " not in name:
        return name
    zh, en = name.split(" / ", 1)
    return en if lang().startswith("en") else zh


def when(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    return format_datetime(value, fmt) if value else ""


def schema_for(form_key: str | None) -> dict[str, Any] | None:
    """The current form ``form_key`` (for showing data already entered), or None."""
    from app.extensions import db

    if not form_key:
        return None
    try:
        return form_versions.current(db.session, form_key).schema
    except NotFoundError:
        return None


def classification_label(value: str) -> str:
    labels = {"unconditional": (_("Unconditionally open")), "conditional": _("Conditionally open"),
              "not_open": _("Not open")}
    return labels.get(value, value)


def local_name(thing: Any) -> str:
    """An organisation's or catalogue item's name in the page's language: the English name
    where it has one, else the Chinese; "" for none."""
    if thing is None:
        return ""
    english = getattr(thing, "name_en", None)
    return str(english if english and lang().startswith("en") else thing.name)


def catalog_items() -> list[Any]:
    from app.extensions import db
    from app.services import catalog

    return catalog.list_items(db.session)


def catalog_by_code(codes: Any) -> dict[str, Any]:
    """The catalogue items a request names, to show each code with its name."""
    from app.extensions import db
    from app.services import catalog

    return catalog.items_by_code(db.session, codes if isinstance(codes, list | tuple) else [])


def has_role(*roles: str) -> bool:
    return bool(current_user.is_authenticated and current_user.roles & set(roles))


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        now_utc=clock.now, schema_for=schema_for, classification_label=classification_label,
        catalog_items=catalog_items, catalog_by_code=catalog_by_code, has_role=has_role, local_name=local_name,
        lang=lang, localized=localized, article_label=lambda a: article_label(a, lang()),
        role_label=lambda r: role_label(r, lang()), process_name=process_name, bilingual=process_name, when=when,
    )
