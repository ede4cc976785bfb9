"""GrantFlow settings.

Every setting has a default and an environment variable that overrides it. A bad value
stops start-up with a message naming the variable.

| variable | default | meaning |
|---|---|---|
| GRANTFLOW_DATABASE_URL | sqlite:///<instance>/grantflow.db | SQLAlchemy URL (PostgreSQL: postgresql+psycopg://...) |
| GRANTFLOW_INSTANCE_PATH | ./instance | folder for the SQLite file, secret key, file store |
| GRANTFLOW_SECRET_KEY | generated once into <instance>/secret_key | session signing key |
| GRANTFLOW_DEMO | 0 | 1 seeds demo organisations and users (password `demo`) |
| GRANTFLOW_SCHEDULER | 0 | 1 starts the timer/calendar scheduler in this process |
| GRANTFLOW_HOST / GRANTFLOW_PORT | 127.0.0.1 / 5000 | where `flask serve` listens |
| GRANTFLOW_WORKFLOWS_DIR | ./workflows | BPMN/DMN sources deployed by `flask deploy-workflows` |
| GRANTFLOW_FORMS_DIR | ./forms | JSON Schema forms |
| GRANTFLOW_TIMER_POLL_SECONDS | 30 | how often the scheduler polls due timers |
| GRANTFLOW_TOKEN_TTL_HOURS | 12 | lifetime of API bearer tokens |
| GRANTFLOW_MAX_CONTENT_LENGTH | 5242880 | largest accepted request body, bytes |
| GRANTFLOW_LOGIN_MAX_FAILURES | 5 | failed logins in 15 minutes before an account is throttled |
| GRANTFLOW_SECURE_COOKIES | 1 when GRANTFLOW_PUBLIC_URL is https://, else 0 | 1 sends the session cookie over HTTPS only |
| GRANTFLOW_FILES_DIR | <instance>/files | the document file store (content-addressed PDFs and their previews) |
| GRANTFLOW_SIGNING_KEY | (none) | PEM private key that signs every document; with GRANTFLOW_SIGNING_CERT |
| GRANTFLOW_SIGNING_CERT | (none) | PEM certificate of that key; when neither is set, a self-signed demo pair is created once under <instance>/signing/ |
| GRANTFLOW_SIGNING_KEY_PASSWORD | (none) | passphrase of GRANTFLOW_SIGNING_KEY, if it is encrypted |
| GRANTFLOW_PUBLIC_URL | http://<host>:<port> | address printed in documents' QR codes (the verification page lives under it) |
| GRANTFLOW_SMTP_HOST | (none) | SMTP server for notification e-mail; without it e-mail is off (queued rows are marked skipped) |
| GRANTFLOW_SMTP_PORT | 25 | its port |
| GRANTFLOW_SMTP_USER / GRANTFLOW_SMTP_PASSWORD | (none) | login, when the server asks for one (set both) |
| GRANTFLOW_SMTP_FROM | (none; required with a host) | sender address, e.g. `GrantFlow <noreply@example.cn>` |
| GRANTFLOW_SMTP_STARTTLS | 0 | 1 upgrades the connection with STARTTLS before logging in |
| GRANTFLOW_SMTP_TIMEOUT | 10 | seconds to wait for the server on each connection or command |
| GRANTFLOW_SMTP_MAX_ATTEMPTS | 6 | tries per e-mail before it is marked failed |
| GRANTFLOW_SMTP_RETRY_SECONDS | 60 | wait before the first retry; doubled after each failure (at most 6 hours) |
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(RuntimeError):
    """A setting has a value that cannot be used."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where notification e-mail goes (GRANTFLOW_SMTP_*) and how sending is retried."""

    host: str
    port: int = 25
    user: str | None = None
    password: str | None = None
    sender: str = ""
    starttls: bool = False
    timeout: int = 10
    max_attempts: int = 6
    retry_seconds: int = 60


@dataclass(frozen=True)
class Settings:
    database_url: str
    instance_path: Path
    secret_key: str
    demo: bool = False
    scheduler: bool = False
    host: str = "127.0.0.1"
    port: int = 5000
    workflows_dir: Path = ROOT / "workflows"
    forms_dir: Path = ROOT / "forms"
    timer_poll_seconds: int = 30
    token_ttl_hours: int = 12
    max_content_length: int = 5 * 1024 * 1024
    login_max_failures: int = 5
    testing: bool = False
    files_dir: Path | None = None  # None: <instance_path>/files
    signing_key: Path | None = None
    signing_cert: Path | None = None
    signing_key_password: str | None = None
    public_url: str = ""  # "": http://<host>:<port>
    secure_cookies: bool = False
    smtp: SmtpSettings | None = None  # None: e-mail is off


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be 0 or 1, not {raw!r}")


def _int(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, not {value}")
    return value


def _secret_key(env: dict[str, str], instance_path: Path) -> str:
    if env.get("GRANTFLOW_SECRET_KEY"):
        return env["GRANTFLOW_SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    instance_path.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _signing_pair(env: dict[str, str]) -> tuple[Path | None, Path | None]:
    key, cert = env.get("GRANTFLOW_SIGNING_KEY") or None, env.get("GRANTFLOW_SIGNING_CERT") or None
    if bool(key) != bool(cert):
        raise SettingsError("GRANTFLOW_SIGNING_KEY and GRANTFLOW_SIGNING_CERT must be set together")
    paths = (Path(key).resolve() if key else None, Path(cert).resolve() if cert else None)
    for name, path in zip(("GRANTFLOW_SIGNING_KEY", "GRANTFLOW_SIGNING_CERT"), paths, strict=True):
        if path is not None and not path.is_file():
            raise SettingsError(f"{name} names {str(path)!r}, which is not a readable file")
    return paths


def _public_url(env: dict[str, str]) -> str:
    raw = (env.get("GRANTFLOW_PUBLIC_URL") or "").rstrip("/")
    if raw and not raw.startswith(("http://", "https://")):
        raise SettingsError(f"GRANTFLOW_PUBLIC_URL must start with http:// or https://, not {raw!r}")
    return raw


def _smtp(env: dict[str, str]) -> SmtpSettings | None:
    host = (env.get("GRANTFLOW_SMTP_HOST") or "").strip()
    if not host:
        return None
    sender = (env.get("GRANTFLOW_SMTP_FROM") or "").strip()
    if "@" not in sender:
        raise SettingsError(f"GRANTFLOW_SMTP_FROM must be a sender address when GRANTFLOW_SMTP_HOST is set, not {sender!r}")
    user, password = env.get("GRANTFLOW_SMTP_USER") or None, env.get("GRANTFLOW_SMTP_PASSWORD") or None
    if bool(user) != bool(password):
        raise SettingsError("GRANTFLOW_SMTP_USER and GRANTFLOW_SMTP_PASSWORD must be set together")
    port = _int(env, "GRANTFLOW_SMTP_PORT", 25)
    if port > 65535:
        raise SettingsError(f"GRANTFLOW_SMTP_PORT must be at most 65535, not {port}")
    return SmtpSettings(
        host=host, port=port, user=user, password=password, sender=sender,
        starttls=_bool(env, "GRANTFLOW_SMTP_STARTTLS", False),
        timeout=_int(env, "GRANTFLOW_SMTP_TIMEOUT", 10),
        max_attempts=_int(env, "GRANTFLOW_SMTP_MAX_ATTEMPTS", 6),
        retry_seconds=_int(env, "GRANTFLOW_SMTP_RETRY_SECONDS", 60),
    )


def load_settings(env: dict[str, str] | None = None, **overrides: object) -> Settings:
    """Read settings from ``env`` (default: the process environment), then apply overrides.

    Raises SettingsError naming the variable whose value is unusable.
    """
    env = dict(os.environ if env is None else env)
    instance_path = Path(env.get("GRANTFLOW_INSTANCE_PATH") or ROOT / "instance").resolve()
    database_url = env.get("GRANTFLOW_DATABASE_URL") or f"sqlite:///{instance_path / 'grantflow.db'}"
    if not database_url.startswith(("sqlite", "postgresql")):
        raise SettingsError(
            f"GRANTFLOW_DATABASE_URL must be a sqlite:// or postgresql+psycopg:// URL, not {database_url!r}"
        )
    signing_key, signing_cert = _signing_pair(env)
    values: dict[str, object] = {
        "database_url": database_url,
        "instance_path": instance_path,
        "secret_key": str(overrides.pop("secret_key", "") or _secret_key(env, instance_path)),
        "demo": _bool(env, "GRANTFLOW_DEMO", False),
        "scheduler": _bool(env, "GRANTFLOW_SCHEDULER", False),
        "host": env.get("GRANTFLOW_HOST") or "127.0.0.1",
        "port": _int(env, "GRANTFLOW_PORT", 5000),
        "workflows_dir": Path(env.get("GRANTFLOW_WORKFLOWS_DIR") or ROOT / "workflows"),
        "forms_dir": Path(env.get("GRANTFLOW_FORMS_DIR") or ROOT / "forms"),
        "timer_poll_seconds": _int(env, "GRANTFLOW_TIMER_POLL_SECONDS", 30),
        "token_ttl_hours": _int(env, "GRANTFLOW_TOKEN_TTL_HOURS", 12),
        "max_content_length": _int(env, "GRANTFLOW_MAX_CONTENT_LENGTH", 5 * 1024 * 1024),
        "login_max_failures": _int(env, "GRANTFLOW_LOGIN_MAX_FAILURES", 5),
        # None means <instance_path>/files, resolved where used (instance_path may be overridden)
        "files_dir": Path(env["GRANTFLOW_FILES_DIR"]).resolve() if env.get("GRANTFLOW_FILES_DIR") else None,
        "signing_key": signing_key,
        "signing_cert": signing_cert,
        "signing_key_password": env.get("GRANTFLOW_SIGNING_KEY_PASSWORD") or None,
        "public_url": _public_url(env),
        "secure_cookies": _bool(env, "GRANTFLOW_SECURE_COOKIES", _public_url(env).startswith("https://")),
        "smtp": _smtp(env),
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
