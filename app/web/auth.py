"""Login, logout, language switch; the signed-in user for pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import UserMixin, current_user, login_required, login_user, logout_user

from app.errors import AuthenticationError
from app.extensions import db, login_manager
from app.models import User
from app.services import accounts, audit
from app.web.i18n import LOCALES

bp = Blueprint("auth", __name__)


class SignedIn(UserMixin):
    """The Flask-Login face of a User row (models stay free of web concerns)."""

    def __init__(self, user: User) -> None:
        self.user = user

    def get_id(self) -> str:
        return str(self.user.id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.user, name)


def current() -> User:
    """The signed-in user's row (pages behind login_required only)."""
    return current_user.user


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = ""

    @login_manager.user_loader
    def _load(user_id: str) -> SignedIn | None:
        if not user_id.isdigit():
            return None
        user = accounts.get_user(db.session, int(user_id))
        return SignedIn(user) if user is not None and user.is_active else None

    settings = app.config["GRANTFLOW"]
    # The session and remember-me cookies: never readable by scripts, not sent on cross-site
    # requests, and only over HTTPS when the platform is served over HTTPS.
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", SESSION_COOKIE_SECURE=settings.secure_cookies,
        REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax", REMEMBER_COOKIE_SECURE=settings.secure_cookies,
    )

    @app.after_request
    def _headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("inbox.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if current_user.is_authenticated:
        return redirect(url_for("inbox.index"))
    error = None
    username = ""
    if request.method == "POST":
        username = request.form.get("username", "").strip()[:64]
        password = request.form.get("password", "")[:256]
        settings = current_app.config["GRANTFLOW"]
        try:
            user = accounts.authenticate(db.session, username, password, max_failures=settings.login_max_failures)
        except AuthenticationError as exc:
            db.session.commit()  # keep the failure count
            error = _("Too many failed logins; try again later.") if "too many" in exc.message \
                else _("Invalid username or password.")
        else:
            audit.record(db.session, "user.login", actor=user)
            db.session.commit()
            session.clear()
            login_user(SignedIn(user))
            return redirect(_safe_next(request.args.get("next")))
    return render_template("login.html", error=error, username=username), (401 if error else 200)


@bp.post("/logout")
@login_required
def logout() -> Any:
    audit.record(db.session, "user.logout", actor=current())
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/locale")
def set_locale() -> Any:
    chosen = request.form.get("locale")
    if chosen in LOCALES:
        session["locale"] = chosen
    return redirect(_safe_next(request.form.get("next")))
