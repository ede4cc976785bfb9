"""Blueprints, error handlers and template helpers."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import IntegerConverter

from app.web.params import MAX_ID  # a larger number in a path names no row: 404, not an overflow


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: a non-negative integer no larger than ``MAX_ID``."""

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:  # noqa: A002 - werkzeug's name
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def register_web(app: Flask) -> None:
    from app.web import (
        api,
        assets,
        audit_pages,
        auth,
        catalog,
        dashboard,
        designer,
        designer_api,
        designer_forms,
        designer_forms_api,
        documents,
        errors,
        i18n,
        inbox,
        input_guard,
        instances,
        notifications,
    )

    app.url_map.converters["int"] = IdConverter  # before any blueprint adds a rule
    errors.init_app(app)
    input_guard.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(instances.bp)
    app.register_blueprint(catalog.bp)
    app.register_blueprint(audit_pages.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(designer.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(designer_api.bp)
    app.register_blueprint(designer_forms.bp)
    app.register_blueprint(designer_forms_api.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(dashboard.api_bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(documents.api_bp)
    app.register_blueprint(notifications.bp)
    app.register_blueprint(notifications.api_bp)
