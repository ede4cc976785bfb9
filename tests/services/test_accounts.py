"""Login throttling, API tokens and settings validation."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.errors import AuthenticationError
from app.services import accounts
from app.services.clock import clock
from config import SettingsError, load_settings
from tests.helpers import user


def test_passwords_are_hashed(session):
    row = user(session, "operator")
    assert row.password_hash != "demo" and row.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_login_is_throttled_after_repeated_failures(session):
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            accounts.authenticate(session, "operator", "wrong", max_failures=5)
    session.commit()
    with pytest.raises(AuthenticationError, match="too many"):
        accounts.authenticate(session, "operator", "demo", max_failures=5)
    clock.set(clock.now() + timedelta(minutes=16))
    assert accounts.authenticate(session, "operator", "demo", max_failures=5).username == "operator"


def test_unknown_user_and_wrong_password_give_the_same_answer(session):
    messages = []
    for name, password in (("nobody", "demo"), ("operator", "nope")):
        with pytest.raises(AuthenticationError) as caught:
            accounts.authenticate(session, name, password)
        messages.append(caught.value.message)
    assert messages[0] == messages[1]


def test_tokens_expire_and_only_their_hash_is_stored(session):
    from sqlalchemy import select

    from app.models import ApiToken

    token = accounts.issue_token(session, user(session, "operator"), ttl_hours=1)
    session.commit()
    stored = session.execute(select(ApiToken.token_hash)).scalars().all()
    assert token not in stored
    assert accounts.user_for_token(session, token).username == "operator"
    clock.set(clock.now() + timedelta(hours=2))
    assert accounts.user_for_token(session, token) is None
    assert accounts.user_for_token(session, "forged") is None


@pytest.mark.parametrize(("env", "name"), [
    ({"GRANTFLOW_PORT": "http"}, "GRANTFLOW_PORT"),
    ({"GRANTFLOW_PORT": "0"}, "GRANTFLOW_PORT"),
    ({"GRANTFLOW_DEMO": "maybe"}, "GRANTFLOW_DEMO"),
    ({"GRANTFLOW_DATABASE_URL": "mysql://x"}, "GRANTFLOW_DATABASE_URL"),
])
def test_bad_settings_stop_start_up_naming_the_variable(env, name, tmp_path):
    with pytest.raises(SettingsError, match=name):
        load_settings(env={**env, "GRANTFLOW_INSTANCE_PATH": str(tmp_path)})


def test_settings_defaults(tmp_path):
    settings = load_settings(env={"GRANTFLOW_INSTANCE_PATH": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path}/grantflow.db"
    assert (settings.host, settings.port, settings.demo, settings.scheduler) == ("127.0.0.1", 5000, False, False)
    assert len(settings.secret_key) == 64
    assert load_settings(env={"GRANTFLOW_INSTANCE_PATH": str(tmp_path)}).secret_key == settings.secret_key
