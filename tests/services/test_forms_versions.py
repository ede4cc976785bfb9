"""Form versions: forms/ seeded once by content, saving a new version (identical content: none),
refused schemas storing nothing, running tasks keeping the form they were created with, and
deployments accepting forms that exist only in the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.errors import ForbiddenError, ValidationError
from app.models import AuditEvent, FormVersion, HumanTask
from app.services import audit, designer, form_versions, forms, processes
from app.services.designer import forms_editor
from tests import factories
from tests.helpers import complete, open_task, user

ROOT = Path(__file__).resolve().parents[2]
KEY = "onboarding_qualification_review"
FORM_KEY = f'<spiffworkflow:property name="formKey" value="{KEY}"/>'


def counts(session) -> tuple[int, int]:
    return (session.execute(select(func.count(FormVersion.id))).scalar_one(),
            session.execute(select(func.count(AuditEvent.id))).scalar_one())


def base() -> dict:
    """forms/<KEY>.json, which the test database holds as version 1."""
    return json.loads((ROOT / "forms" / f"{KEY}.json").read_text(encoding="utf-8"))


def with_site_visit(schema: dict) -> dict:
    """Version 2 of the review form: a new title and a required site-visit date."""
    schema["title"] = "入驻资质审查（含现场核查）"
    schema["x-title-en"] = "Onboarding qualification review (with site visit)"
    schema["properties"]["site_visit_on"] = {"title": "现场核查日期", "x-title-en": "Site visit date",
                                             "type": "string", "format": "date", "x-ui": {"widget": "date"}}
    schema["required"] = [*schema["required"], "site_visit_on"]
    return schema


def test_forms_are_seeded_as_version_1_once_by_content(session):
    files = forms.get_registry()
    stored = session.execute(select(FormVersion)).scalars().all()
    assert {row.form_key for row in stored} == files.keys and len(stored) == len(files.keys)
    row = next(r for r in stored if r.form_key == KEY)
    assert (row.version, row.created_by_id, row.comment) == (1, None, f"forms/{KEY}.json")
    assert row.schema == files.get(KEY) and list(row.schema["properties"]) == ["decision", "comment", "verified_items"]
    assert row.sha256 == form_versions.content_hash(files.get(KEY))
    before = counts(session)
    assert not any(created for _row, created in form_versions.seed(session))
    assert counts(session) == before


def test_saving_makes_a_version_and_identical_content_does_not(session):
    admin = user(session, "admin")
    before_rows, before_events = counts(session)
    result = forms_editor.save(session, admin, KEY, with_site_visit(base()), "  现场核查  ")
    session.commit()
    assert (result.version, result.created) == (2, True)
    assert counts(session) == (before_rows + 1, before_events + 1)
    event = session.execute(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).scalar_one()
    assert (event.action, event.actor) == ("form.saved", "admin")
    assert event.payload == {"form_key": KEY, "version": 2, "sha256": result.sha256, "comment": "现场核查"}
    assert audit.verify(session).ok

    # the same content with other whitespace and key order outside the fields: no new version
    shuffled = json.loads(json.dumps(dict(reversed(list(with_site_visit(base()).items())))))
    again = forms_editor.save(session, admin, KEY, shuffled, "again")
    assert (again.version, again.created, again.sha256) == (2, False, result.sha256)
    assert counts(session) == (before_rows + 1, before_events + 1)
    # the fields' order is what the form shows: a new version
    reordered = with_site_visit(base())
    reordered["properties"] = dict(reversed(list(reordered["properties"].items())))
    assert forms_editor.save(session, admin, KEY, reordered).version == 3
    session.commit()

    current = form_versions.current(session, KEY)
    assert current.version == 3 and current.info is not None and current.info.created_by == "admin"
    assert form_versions.get(session, KEY, 1).schema == forms.get_registry().get(KEY)
    assert [v.version for v in form_versions.history(session, KEY)] == [3, 2, 1]
    assert [v.created_by for v in form_versions.history(session, KEY)] == ["admin", "admin", None]


def test_a_version_read_before_its_transaction_rolls_back_is_not_served_later(session):
    """Stored versions are read once and kept; one stored and read by a transaction that then
    rolls back must not be: the next version 2 is another form."""
    admin = user(session, "admin")
    form_versions.get(session, KEY, 1)  # version 1 is cached from here on
    first = with_site_visit(base())
    assert forms_editor.save(session, admin, KEY, first).version == 2
    assert "site_visit_on" in form_versions.get(session, KEY, 2).schema["properties"]
    session.rollback()
    other = base()
    other["title"] = "入驻资质审查（第二版）"
    assert forms_editor.save(session, admin, KEY, other).version == 2
    session.commit()
    stored = form_versions.get(session, KEY, 2)
    assert stored.schema["title"] == "入驻资质审查（第二版）" and "site_visit_on" not in stored.schema["properties"]
    assert form_versions.get(session, KEY, 2) is stored  # read once, then kept
    assert form_versions.get(session, KEY, 1).schema == forms.get_registry().get(KEY)


def test_first_save_of_a_form_only_in_files_stores_the_file_first(session):
    session.execute(FormVersion.__table__.delete().where(FormVersion.form_key == KEY))
    assert form_versions.current(session, KEY).version is None  # the file
    result = forms_editor.save(session, user(session, "admin"), KEY, with_site_visit(base()), "v2")
    assert (result.version, result.created) == (2, True)
    assert [(v.version, v.created_by) for v in form_versions.history(session, KEY)] == [(2, "admin"), (1, None)]


def _schema_with(**changes) -> dict:
    schema = base()
    for path, value in changes.items():
        node = schema
        *parents, last = path.split("__")
        for part in parents:
            node = node[part]
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return schema


REFUSED = [
    pytest.param(["a list"], "", id="not-an-object"),
    pytest.param(_schema_with(title=...), "/title", id="no-title"),
    pytest.param(_schema_with(title="  "), "/title", id="blank-title"),
    pytest.param(_schema_with(properties__comment__type="text"), "/properties/comment/type", id="bad-type"),
    pytest.param(_schema_with(properties__comment__pattern="(unclosed"), "/properties/comment/pattern",
                 id="bad-regex"),
    pytest.param(_schema_with(properties__comment__title=...), "/properties/comment/title", id="field-no-title"),
    pytest.param(_schema_with(properties__extra={"title": "附加", "type": "object"}), "/properties/extra/type",
                 id="nested-object"),
    pytest.param(_schema_with(properties__decision__enum=...), "/properties/decision/x-ui/widget",
                 id="radio-without-choices"),
    pytest.param(_schema_with(properties__verified_items__items={"type": "string"}),
                 "/properties/verified_items/items/enum", id="list-without-choices"),
    pytest.param(_schema_with(required=["decision", "nope"]), "/required/1", id="required-unknown"),
    pytest.param(_schema_with(properties__comment={"$ref": "#/$defs/x"}), "/properties/comment/$ref", id="ref"),
    pytest.param(_schema_with(**{"$schema": "http://json-schema.org/draft-07/schema#"}), "/$schema",
                 id="other-dialect"),
    pytest.param(_schema_with(type="array"), "/type", id="not-an-object-schema"),
    pytest.param(_schema_with(properties__comment__maxLength=float("inf")), "", id="infinite-number"),
    pytest.param(_schema_with(allOf=[json.loads('{"not": ' * 40 + "{}" + "}" * 40)]), "", id="too-deep"),
    pytest.param(_schema_with(**{"properties__comment__x-ui": {"widget": "radio"}}),
                 "/properties/comment/x-ui/widget", id="widget-not-for-text"),
    pytest.param(_schema_with(properties__personnel={"title": "人员", "type": "array", "items": {
        "type": "object", "properties": {"on_duty": {"title": "在岗", "type": "boolean"}}}}),
                 "/properties/personnel/items/properties/on_duty/type", id="yes-no-column"),
]


@pytest.mark.parametrize(("schema", "path"), REFUSED)
def test_refused_schemas_name_the_problem_and_store_nothing(session, schema, path):
    before = counts(session)
    with pytest.raises(ValidationError) as refused:
        forms_editor.save(session, user(session, "admin"), KEY, schema, "x")
    assert path in [e.field for e in refused.value.errors], refused.value.errors
    assert all(e.message for e in refused.value.errors)
    session.rollback()
    assert counts(session) == before and form_versions.current(session, KEY).version == 1


def test_bad_key_and_comment_are_refused_and_non_admins_may_not_save(session):
    before = counts(session)
    with pytest.raises(ValidationError) as refused:
        forms_editor.save(session, user(session, "admin"), "Bad-Key", base(), "x" * 501)
    assert {e.field for e in refused.value.errors} == {"key", "comment"}
    for username in ("operator", "authority"):
        with pytest.raises(ForbiddenError):
            forms_editor.save(session, user(session, username), KEY, with_site_visit(base()))
    session.rollback()
    assert counts(session) == before


def test_text_that_is_not_json_names_line_and_column():
    with pytest.raises(ValidationError) as refused:
        forms_editor.parse('{\n  "title": "x",\n  "type": }')
    (error,) = refused.value.errors
    assert error.field == "" and "line 3" in error.message and "column 11" in error.message


def test_every_form_in_forms_passes_the_editor_checks():
    for path in sorted((ROOT / "forms").glob("*.json")):
        assert forms_editor.problems(json.loads(path.read_text(encoding="utf-8"))) == [], path.name


def test_a_running_task_keeps_its_form_while_a_new_task_gets_the_new_one(session):
    instance = processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    session.commit()
    old_task = open_task(session, "operator", "review_qualifications", instance)
    assert old_task.form_version == 1

    forms_editor.save(session, user(session, "admin"), KEY, with_site_visit(base()), "现场核查")
    session.commit()

    # the open task still shows and checks version 1: the new field is not part of it
    assert form_versions.of_task(session, old_task).version == 1
    assert "site_visit_on" not in form_versions.of_task(session, old_task).schema["properties"]
    with pytest.raises(ValidationError) as refused:
        complete(session, "operator", "review_qualifications", instance,
                 {**factories.review("reject", "缺少等保备案证明。"), "site_visit_on": "2026-11-30"})
    assert [e.field for e in refused.value.errors] == ["site_visit_on"]
    session.rollback()
    complete(session, "operator", "review_qualifications", instance, factories.review("reject", "缺少等保备案证明。"))
    complete(session, "operator", "admit_personnel", instance, factories.review())
    complete(session, "applicant", "revise_application", instance, factories.resubmit())

    # the task created after the save gets version 2, which needs the site visit
    new_task = open_task(session, "operator", "review_qualifications", instance)
    assert new_task.id != old_task.id and new_task.form_version == 2
    with pytest.raises(ValidationError) as refused:
        complete(session, "operator", "review_qualifications", instance, factories.review())
    assert [e.field for e in refused.value.errors] == ["site_visit_on"]
    session.rollback()
    complete(session, "operator", "review_qualifications", instance,
             {**factories.review(), "site_visit_on": "2026-11-30"})
    assert session.get(HumanTask, new_task.id).status == "completed"


def test_a_task_without_a_recorded_version_uses_the_current_form(session):
    instance = processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    task = open_task(session, "operator", "review_qualifications", instance)
    task.form_version = None  # a task from before forms were versioned
    forms_editor.save(session, user(session, "admin"), KEY, with_site_visit(base()))
    session.commit()
    assert form_versions.of_task(session, task).version == 2
    with pytest.raises(ValidationError) as refused:
        complete(session, "operator", "review_qualifications", instance, factories.review())
    assert [e.field for e in refused.value.errors] == ["site_visit_on"]


def test_deployment_accepts_a_form_stored_only_in_the_database(session):
    admin = user(session, "admin")
    source = (ROOT / "workflows" / "partner_onboarding.bpmn").read_text(encoding="utf-8")
    assert FORM_KEY in source
    files = {"partner_onboarding.bpmn": source.replace(FORM_KEY, FORM_KEY.replace(KEY, "onboarding_site_check"), 1)}
    assert any("onboarding_site_check" in e.message for e in designer.validate(files, session))

    new_form = with_site_visit(base())
    new_form["title"] = "入驻现场核查"
    assert forms_editor.save(session, admin, "onboarding_site_check", new_form, "新表单").version == 1
    assert "onboarding_site_check" in form_versions.known_keys(session)
    assert "onboarding_site_check" not in forms.get_registry().keys
    assert designer.validate(files, session) == []
    result = designer.deploy(session, admin, files, "现场核查表单")
    assert result.created
    assert "onboarding_site_check" in {f.key for f in designer.catalogue(session, admin).forms}
    session.commit()

    instance = processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    task = open_task(session, "operator", "review_qualifications", instance)
    assert (task.form_key, task.form_version) == ("onboarding_site_check", 1)
    assert form_versions.of_task(session, task).schema["title"] == "入驻现场核查"


def test_a_migrated_task_gets_its_new_form_and_keeps_an_unchanged_one(session):
    admin = user(session, "admin")
    instance = processes.start(session, user(session, "applicant"), "partner_onboarding", factories.application())
    session.commit()
    personnel = open_task(session, "operator", "admit_personnel", instance)
    personnel_v2 = json.loads((ROOT / "forms" / "onboarding_personnel_admission.json").read_text(encoding="utf-8"))
    personnel_v2["title"] = "人员入场审核（第二版）"
    assert forms_editor.save(session, admin, "onboarding_personnel_admission", personnel_v2).version == 2
    new_form = with_site_visit(base())
    forms_editor.save(session, admin, "onboarding_site_check", new_form)
    assert forms_editor.save(session, admin, "onboarding_site_check", new_form | {"title": "入驻现场核查"}).version == 2
    source = (ROOT / "workflows" / "partner_onboarding.bpmn").read_text(encoding="utf-8")
    files = {"partner_onboarding.bpmn": source.replace(FORM_KEY, FORM_KEY.replace(KEY, "onboarding_site_check"), 1)}
    to_version = designer.deploy(session, admin, files, "现场核查表单").version
    session.commit()

    assert designer.migrate_one(session, admin, instance.id, to_version, process_key="partner_onboarding").migrated
    session.commit()
    review = open_task(session, "operator", "review_qualifications", instance)
    assert (review.form_key, review.form_version) == ("onboarding_site_check", 2)  # the newest of its new form
    personnel = open_task(session, "operator", "admit_personnel", instance)
    assert (personnel.form_key, personnel.form_version) == ("onboarding_personnel_admission", 1)
