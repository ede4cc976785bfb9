"""GrantFlow: approvals for the public data authorized operation regime."""

from __future__ import annotations

from flask import Flask

from config import Settings, load_settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints. Wiring only."""
    from app import cli, jobs
    from app.extensions import babel, csrf, db, login_manager
    from app.services import forms
    from app.web import register_web
    from app.web.i18n import select_locale

    settings = settings or load_settings()
    app = Flask(__name__, instance_path=str(settings.instance_path),
                template_folder="web/templates", static_folder="web/static")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        DATABASE_URL=settings.database_url,
        GRANTFLOW=settings,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        BABEL_TRANSLATION_DIRECTORIES="web/translations",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,
        JSON_AS_ASCII=False,
    )
    db.init_app(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    forms.configure(settings.forms_dir)
    register_web(app)
    cli.register(app)
    jobs.init_app(app)
    return app
