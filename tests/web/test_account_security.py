"""Account security: session cookie settings, the generated secret key (and no secret in the
repository), the password policy, API token revocation, role changes, and the audit entries
of logins, logouts, tokens, passwords and roles."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from app import create_app
from app.errors import ValidationError
from app.extensions import db
from app.models import AuditEvent
from app.services import accounts
from config import load_settings
from tests.conftest import ROOT, csrf_token
from tests.helpers import org, user

# Each look-up opens its own app context: a test that holds one open would share `g` (and
# the signed-in user cached in it) with every request of its test client.

def _actions(app, since: int = 0) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(select(AuditEvent).where(AuditEvent.seq > since).order_by(AuditEvent.seq))
        return [(e.action, e.actor) for e in rows.scalars()]


def _last_seq(app) -> int:
    with app.app_context():
        return db.session.execute(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1)).scalar() or 0


def _login(client, username, password="demo"):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client, "/login")})


# --- cookies and the secret key --------------------------------------------------------------

def _session_cookie(response) -> str:
    cookies = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_is_http_only_and_same_site(client):
    cookie = _session_cookie(_login(client, "operator"))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_session_cookie_is_secure_when_served_over_https(db_url, tmp_path):
    for env in ({"GRANTFLOW_SECURE_COOKIES": "1"}, {"GRANTFLOW_PUBLIC_URL": "https://grantflow.example.cn"}):
        settings = load_settings(env=env, database_url=db_url, instance_path=tmp_path, demo=True, testing=True,
                                 secret_key="test-secret")
        assert settings.secure_cookies
        app = create_app(settings)
        assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
        cookie = _session_cookie(_login(app.test_client(), "operator"))
        assert "Secure" in cookie and "HttpOnly" in cookie, env
    with pytest.raises(Exception, match="GRANTFLOW_SECURE_COOKIES"):
        load_settings(env={"GRANTFLOW_SECURE_COOKIES": "sometimes", "GRANTFLOW_INSTANCE_PATH": str(tmp_path)})


def test_secret_key_is_generated_once_into_the_instance_folder(tmp_path):
    instance = tmp_path / "instance"
    first = load_settings(env={"GRANTFLOW_INSTANCE_PATH": str(instance)})
    key_file = instance / "secret_key"
    assert key_file.read_text().strip() == first.secret_key and len(first.secret_key) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_settings(env={"GRANTFLOW_INSTANCE_PATH": str(instance)}).secret_key == first.secret_key
    other = load_settings(env={"GRANTFLOW_INSTANCE_PATH": str(tmp_path / "elsewhere")})
    assert other.secret_key != first.secret_key
    configured = load_settings(env={"GRANTFLOW_INSTANCE_PATH": str(instance), "GRANTFLOW_SECRET_KEY": "from-env"})
    assert configured.secret_key == "from-env"


def test_no_secret_is_tracked_in_the_repository():
    try:
        files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert not [f for f in files if f.startswith("instance/") or Path(f).name in ("secret_key", ".env")]
    assert not [f for f in files if f.endswith((".key", ".p12", ".pfx"))]
    leaked = []
    for name in files:
        path = ROOT / name
        if path.suffix in (".py", ".pem", ".txt", ".cfg", ".ini", ".toml", ".json", ".sh", ".yml", ".yaml", ".md"):
            body = path.read_text(errors="replace") if path.is_file() else ""
            if "PRIVATE KEY-----" in body and "BEGIN" in body and not name.startswith("tests/"):
                leaked.append(name)
    assert not leaked, f"private keys in the repository: {leaked}"
    assert "SECRET_KEY" not in (ROOT / "config" / "settings.py").read_text().split("def _secret_key")[0].replace(
        "GRANTFLOW_SECRET_KEY", "")


# --- the password policy ---------------------------------------------------------------------

@pytest.mark.parametrize(("password", "problem"), [
    ("short", "at least 12"),
    ("demo", "at least 12"),
    ("password1234", "well-known"),
    ("operator-2026-x", "username"),
    ("aaaaaaaaaaaaaaaa", "repeat"),
    ("长" * 300, "at most 256"),
])
def test_weak_passwords_are_refused(app, password, problem):
    seq = _last_seq(app)
    with app.app_context():
        operator = user(db.session, "operator")
        before = operator.password_hash
        with pytest.raises(ValidationError) as caught:
            accounts.set_password(db.session, operator, password, actor=None)
        db.session.rollback()
        assert any(problem in e.message and e.field == "password" for e in caught.value.errors), caught.value.errors
        assert user(db.session, "operator").password_hash == before
    assert _last_seq(app) == seq


def test_a_new_password_works_ends_old_tokens_and_is_audited(app, client):
    with app.app_context():
        token = accounts.issue_token(db.session, user(db.session, "operator"), 1)
        db.session.commit()
    seq = _last_seq(app)
    with app.app_context():
        accounts.set_password(db.session, user(db.session, "operator"), "南山数据-Strong-2026",
                              actor=user(db.session, "admin"))
        db.session.commit()
        assert accounts.user_for_token(db.session, token) is None
    assert _actions(app, seq) == [("user.password_changed", "admin")]
    assert _login(client, "operator").status_code == 401
    assert _login(client, "operator", "南山数据-Strong-2026").status_code == 302


def test_cli_sets_passwords_by_the_policy(runner, app):
    result = runner.invoke(args=["users", "set-password", "partner_a", "--password", "demo1"])
    assert result.exit_code == 1 and "at least 12" in result.output
    result = runner.invoke(args=["users", "set-password", "partner_a", "--password", "Qianhai-Zhishu-2026!"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert accounts.authenticate(db.session, "partner_a", "Qianhai-Zhishu-2026!").username == "partner_a"
    result = runner.invoke(args=["users", "create", "auditor2", "--org", "authority", "--role", "authority",
                                 "--password", "123456789012"])
    assert result.exit_code == 1 and "well-known" in result.output
    result = runner.invoke(args=["users", "create", "auditor2", "--org", "authority", "--role", "authority",
                                 "--name", "审计员", "--password", "Audit-Nanshan-2026"])
    assert result.exit_code == 0, result.output
    assert ("user.created", "system") in _actions(app)


# --- tokens ------------------------------------------------------------------------------------

def test_a_token_can_be_revoked_and_is_refused_afterwards(client, api, app):
    first, second = api("operator"), api("operator")
    seq = _last_seq(app)
    r = client.delete("/api/v1/auth/token", headers=first)
    assert r.status_code == 204 and r.data == b""
    r = client.get("/api/v1/me", headers=first)
    assert r.status_code == 401 and r.json["error"] == "unauthenticated"
    assert client.delete("/api/v1/auth/token", headers=first).status_code == 401
    assert client.get("/api/v1/me", headers=second).status_code == 200  # only that token
    assert _actions(app, seq) == [("token.revoked", "operator")]


def test_revoking_all_tokens_of_a_user(runner, client, api, app):
    headers = [api("partner_a"), api("partner_a")]
    result = runner.invoke(args=["users", "revoke-tokens", "partner_a"])
    assert result.exit_code == 0 and "2 token(s)" in result.output
    assert [client.get("/api/v1/me", headers=h).status_code for h in headers] == [401, 401]
    assert ("token.revoked_all", "system") in _actions(app)


# --- roles -------------------------------------------------------------------------------------

def test_role_changes_are_audited_and_take_effect(runner, client, api, app):
    seq = _last_seq(app)
    old = api("finance")
    assert client.get("/api/v1/grants", headers=old).status_code == 403
    result = runner.invoke(args=["users", "grant-role", "finance", "authority"])
    assert result.exit_code == 0 and "now has" in result.output
    assert client.get("/api/v1/grants", headers=api("finance")).status_code == 200
    result = runner.invoke(args=["users", "revoke-role", "finance", "authority"])
    assert result.exit_code == 0 and "no longer has" in result.output
    assert client.get("/api/v1/grants", headers=old).status_code == 401  # its tokens went with the role
    assert client.get("/api/v1/grants", headers=api("finance")).status_code == 403
    actions = [a for a, _actor in _actions(app, seq)]
    assert actions.count("user.role_granted") == 1 and actions.count("user.role_revoked") == 1
    result = runner.invoke(args=["users", "grant-role", "finance", "emperor"])
    assert result.exit_code == 1 and "unknown role" in result.output


def test_acting_for_another_organisation(runner, app):
    result = runner.invoke(args=["users", "grant-role", "dept_hrss", "source_dept", "--acting-for", "dept_urban"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        hrss = user(db.session, "dept_hrss")
        assert hrss.acting_org_ids == {hrss.org_id, org(db.session, "dept_urban").id}
    result = runner.invoke(args=["users", "grant-role", "dept_hrss", "source_dept", "--acting-for", "nowhere"])
    assert result.exit_code == 1 and "nowhere" in result.output


# --- logins ------------------------------------------------------------------------------------

def test_logins_logouts_failures_and_locks_are_audited(client, app):
    seq = _last_seq(app)
    assert _login(client, "operator", "wrong").status_code == 401
    assert _login(client, "nobody", "wrong").status_code == 401  # no account, nothing to name
    assert _login(client, "operator").status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/inbox")})
    assert client.get("/inbox").status_code == 302
    for _ in range(app.config["GRANTFLOW"].login_max_failures):
        _login(client, "taskforce", "wrong")
    page = _login(client, "taskforce")
    assert page.status_code == 401 and "登录失败次数过多" in page.get_data(as_text=True)
    r = client.post("/api/v1/auth/token", json={"username": "taskforce", "password": "demo"})
    assert r.status_code == 401 and "too many" in r.json["message"]
    actions = _actions(app, seq)
    assert actions[:3] == [("user.login_failed", "operator"), ("user.login", "operator"), ("user.logout", "operator")]
    assert actions.count(("user.login_failed", "taskforce")) == 5 and ("user.locked", "taskforce") in actions
    assert not [a for a in actions if a[0] == "user.login" and a[1] == "taskforce"]
