"""Deploying definitions: versions by content hash, refusals that name the element and store nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.errors import DefinitionError
from app.models import ProcessDefinition
from app.services import definitions, processes
from tests import factories
from tests.helpers import user

SOURCE = (Path(__file__).resolve().parents[2] / "workflows" / "partner_onboarding.bpmn").read_text()
CONDITION = 'review_qualifications["decision"] == "approve" and admit_personnel["decision"] == "approve"'
SCRIPT = 'outcome = "approved"'


def _count(session) -> int:
    return session.execute(select(func.count(ProcessDefinition.id))).scalar_one()


def test_identical_content_makes_no_new_version(session):
    before = _count(session)
    definition, created = definitions.deploy(session, {"partner_onboarding.bpmn": SOURCE.encode()}, actor=None)
    assert not created and definition.version == 1
    assert _count(session) == before


def test_changed_content_is_a_new_version_and_running_instances_stay(session):
    running = processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    session.commit()
    changed = SOURCE.replace('name="入驻备案"', 'name="入驻备案（新版）"')
    definition, created = definitions.deploy(session, {"partner_onboarding.bpmn": changed.encode()},
                                             actor=user(session, "admin"), comment="rename filing step")
    session.commit()
    assert created and definition.version == 2 and definition.deployed_by_id == user(session, "admin").id
    assert running.definition.version == 1
    assert definitions.latest(session, "partner_onboarding").version == 2


@pytest.mark.parametrize(("old", "attack", "element"), [
    (CONDITION, "__import__('os').system('touch /tmp/gf-pwned')", "flow_result_approved"),
    (SCRIPT, "import os", "set_outcome_approved"),
    (SCRIPT, "x = ().__class__.__base__.__subclasses__()", "set_outcome_approved"),
    (CONDITION, "getattr(application, '__class__')", "flow_result_approved"),
    (SCRIPT, "data = open('/etc/passwd').read()", "set_outcome_approved"),
])
def test_a_deployment_carrying_a_sandbox_escape_is_refused_naming_the_element(session, old, attack, element):
    before = _count(session)
    hostile = SOURCE.replace(old, attack.replace("'", "&apos;") if "&" not in attack else attack, 1)
    assert hostile != SOURCE
    with pytest.raises(DefinitionError) as caught:
        definitions.deploy(session, {"partner_onboarding.bpmn": hostile.encode()}, actor=None)
    session.rollback()
    assert element in {e.element for e in caught.value.errors}, caught.value.errors
    assert _count(session) == before


@pytest.mark.parametrize("content", [
    b"", b"\x00\x01\x02binary", b"<not-bpmn/>", b"<?xml version='1.0'?><bpmn:definitions",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
])
def test_garbage_is_refused_with_a_clear_error(session, content):
    with pytest.raises(DefinitionError) as caught:
        definitions.deploy(session, {"upload.bpmn": content}, actor=None)
    assert caught.value.errors and all(e.message for e in caught.value.errors)
    assert "root:" not in str(caught.value.errors)  # /etc/passwd never read


def test_unknown_form_role_and_article_are_named(session):
    broken = (SOURCE.replace('value="onboarding_filing"', 'value="no_such_form"')
              .replace('name="role" value="authority"', 'name="role" value="emperor"')
              .replace('value="Art. 17, Art. 18"', 'value="Art. 17, Art. 99"'))
    with pytest.raises(DefinitionError) as caught:
        definitions.deploy(session, {"partner_onboarding.bpmn": broken.encode()}, actor=None)
    text = " ".join(f"{e.element}: {e.message}" for e in caught.value.errors)
    assert "no_such_form" in text and "emperor" in text and "Art. 99" in text
    assert "file_onboarding" in {e.element for e in caught.value.errors}
