"""Blueprints, error handlers and template helpers."""

from __future__ import annotations

from flask import Flask


def register_web(app: Flask) -> None:
    from app.web import (
        api,
        assets,
        auth,
        catalog,
        designer,
        designer_api,
        documents,
        errors,
        i18n,
        inbox,
        instances,
    )

    errors.init_app(app)
    i18n.init_app(app)
    auth.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(inbox.bp)
    app.register_blueprint(instances.bp)
    app.register_blueprint(catalog.bp)
    app.register_blueprint(assets.bp)
    app.register_blueprint(designer.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(designer_api.bp)
    app.register_blueprint(documents.bp)
    app.register_blueprint(documents.api_bp)
