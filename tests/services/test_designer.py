"""The designer's services: deploy and validate, versions, diff, and migrating running
partner_onboarding instances to a version 2 (each instance in its own transaction)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import func, select

from app import engine
from app.errors import (
    ConflictError,
    DefinitionError,
    EngineError,
    ForbiddenError,
    NotFoundError,
    ValidationError,
)
from app.models import AuditEvent, HumanTask, ProcessDefinition
from app.services import audit, designer, processes, tasks
from tests import factories
from tests.helpers import complete, open_elements, open_task, org, user
from tests.workflows.test_data_authorization import agreement, opinion, report, request, review

SOURCE = (Path(__file__).resolve().parents[2] / "workflows" / "partner_onboarding.bpmn").read_text()
NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
      "dc": "http://www.omg.org/spec/DD/20100524/DC",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}
REVISE_LOOP = ("revise_application", "gw_revise_action", "apply_resubmission", "flow_revise_to_action",
               "flow_action_resubmit", "flow_action_withdraw", "flow_resubmitted_to_merge")
COMPLIANCE = """<bpmn:userTask xmlns:bpmn="{bpmn}" xmlns:spiffworkflow="{spiffworkflow}" id="compliance_check" name="合规复核">
  <bpmn:extensionElements><spiffworkflow:properties>
    <spiffworkflow:property name="role" value="operator"/>
    <spiffworkflow:property name="formKey" value="onboarding_qualification_review"/>
    <spiffworkflow:property name="articles" value="Art. 18, Art. 27"/>
    <spiffworkflow:property name="due" value="P3D"/>
  </spiffworkflow:properties></bpmn:extensionElements>
  <bpmn:incoming>flow_agreement_to_filing</bpmn:incoming>
  <bpmn:outgoing>flow_compliance_to_filing</bpmn:outgoing>
</bpmn:userTask>""".format(**NS)


# --------------------------------------------------------------------------- diagrams


def _by_id(root, element_id):
    return root.xpath(f"//*[@id='{element_id}']")[0]


def _remove(root, element_id):
    """Remove an element with its diagram shape, lane reference and flow references."""
    node = _by_id(root, element_id)
    node.getparent().remove(node)
    for ref in root.xpath(f"//bpmndi:*[@bpmnElement='{element_id}'] | //bpmn:flowNodeRef[text()='{element_id}']"
                          f" | //bpmn:incoming[text()='{element_id}'] | //bpmn:outgoing[text()='{element_id}']",
                          namespaces=NS):
        ref.getparent().remove(ref)


def onboarding_v2() -> str:
    """partner_onboarding, version 2: a rejected application ends (the partner's revise loop
    is gone), a compliance check follows the agreement, the agreement step is renamed with a
    longer due period, and the approved end event moved on the canvas."""
    root = etree.fromstring(SOURCE.encode())
    for element_id in REVISE_LOOP:
        _remove(root, element_id)
    _by_id(root, "flow_result_to_revise").set("targetRef", "set_outcome_withdrawn")
    withdrawn = _by_id(root, "set_outcome_withdrawn")
    withdrawn.insert(0, etree.fromstring(f'<bpmn:incoming xmlns:bpmn="{NS["bpmn"]}">flow_result_to_revise</bpmn:incoming>'))
    agreement = _by_id(root, "record_service_agreement")
    agreement.set("name", "签订服务协议（含合规承诺）")
    agreement.xpath(".//spiffworkflow:property[@name='due']", namespaces=NS)[0].set("value", "P15D")
    _by_id(root, "flow_agreement_to_filing").set("targetRef", "compliance_check")
    filing = _by_id(root, "file_onboarding")
    filing.xpath("bpmn:incoming", namespaces=NS)[0].text = "flow_compliance_to_filing"
    filing.addprevious(etree.fromstring(COMPLIANCE))
    filing.addprevious(etree.fromstring(
        f'<bpmn:sequenceFlow xmlns:bpmn="{NS["bpmn"]}" id="flow_compliance_to_filing" '
        'sourceRef="compliance_check" targetRef="file_onboarding"/>'))
    lane = _by_id(root, "operator")
    lane.append(etree.fromstring(f'<bpmn:flowNodeRef xmlns:bpmn="{NS["bpmn"]}">compliance_check</bpmn:flowNodeRef>'))
    bounds = root.xpath("//bpmndi:BPMNShape[@bpmnElement='end_approved']/dc:Bounds", namespaces=NS)[0]
    bounds.set("x", str(int(bounds.get("x")) + 40))
    return etree.tostring(root, encoding="unicode")


def deploy_v2(session, **kwargs):
    result = designer.deploy(session, user(session, "admin"), {"partner_onboarding.bpmn": onboarding_v2()},
                             kwargs.get("comment", "v2: compliance check, no revise loop"))
    session.commit()
    return result


def start(session, org_code):
    instance = processes.start_system(session, "partner_onboarding", org(session, org_code), factories.application())
    session.commit()
    return instance


def count(session, model) -> int:
    return session.execute(select(func.count()).select_from(model)).scalar_one()


# --------------------------------------------------------------------------- deploy


def test_deploy_creates_a_version_and_identical_content_does_not(session):
    admin = user(session, "admin")
    same = designer.deploy(session, admin, {"partner_onboarding.bpmn": SOURCE}, "again")
    assert (same.process_key, same.version, same.created) == ("partner_onboarding", 1, False)
    result = deploy_v2(session)
    assert (result.version, result.created) == (2, True) and len(result.sha256) == 64
    again = deploy_v2(session)
    assert (again.version, again.created, again.sha256) == (2, False, result.sha256)
    definition = session.execute(select(ProcessDefinition).where(ProcessDefinition.process_key == "partner_onboarding",
                                                                  ProcessDefinition.version == 2)).scalar_one()
    assert definition.deployed_by_id == admin.id and definition.comment.startswith("v2")
    assert session.execute(select(func.count(AuditEvent.id)).where(AuditEvent.action == "definition.deployed",
                                                                    AuditEvent.actor == "admin")).scalar_one() == 1


def test_validate_names_elements_and_stores_nothing(session):
    before = count(session, ProcessDefinition)
    broken = SOURCE.replace('value="onboarding_filing"', 'value="no_such_form"')
    errors = designer.validate({"partner_onboarding.bpmn": broken})
    assert any(e.element == "file_onboarding" and "no_such_form" in e.message for e in errors)
    assert designer.validate({"partner_onboarding.bpmn": onboarding_v2()}) == []
    assert designer.validate({"../etc/passwd": SOURCE})[0].element is None
    assert designer.validate({"x.bpmn": 42}) and designer.validate({}) and designer.validate({"x.bpmn": "\ud800"})
    assert count(session, ProcessDefinition) == before


def test_names_longer_than_their_columns_are_refused_naming_the_element(session):
    long_title = SOURCE.replace('name="入驻备案"', f'name="{"备" * 301}"')
    with pytest.raises(DefinitionError) as caught:
        designer.deploy(session, user(session, "admin"), {"partner_onboarding.bpmn": long_title})
    assert [e.element for e in caught.value.errors] == ["file_onboarding"]


def test_only_admins_may_use_the_designer(session):
    operator = user(session, "operator")
    calls = [
        lambda: designer.deploy(session, operator, {"partner_onboarding.bpmn": SOURCE}),
        lambda: designer.versions(session, operator),
        lambda: designer.version_files(session, operator, "partner_onboarding", 1),
        lambda: designer.diff(session, operator, "partner_onboarding", 1, 1),
        lambda: designer.catalogue(session, operator),
        lambda: designer.preview_migration(session, operator, "partner_onboarding", 1),
        lambda: designer.migrate_one(session, operator, 1, 1),
    ]
    for call in calls:
        with pytest.raises(ForbiddenError):
            call()


# --------------------------------------------------------------------------- versions and diff


def test_versions_list_running_instances_per_version(session):
    start(session, "applicant")
    start(session, "candidate")
    deploy_v2(session)
    start(session, "partner_b")
    entry = next(p for p in designer.versions(session, user(session, "admin")) if p.process_key == "partner_onboarding")
    assert [(v.version, v.running_instances, v.deployed_by) for v in entry.versions] == [(2, 1, "admin"), (1, 2, None)]
    files = designer.version_files(session, user(session, "admin"), "partner_onboarding", 2)
    assert "compliance_check" in files.files["partner_onboarding.bpmn"] and "compliance_check" in files.meta["tasks"]
    with pytest.raises(NotFoundError):
        designer.version_files(session, user(session, "admin"), "partner_onboarding", 9)


def test_diff_reports_added_removed_changed_and_moved_elements(session):
    deploy_v2(session)
    result = designer.diff(session, user(session, "admin"), "partner_onboarding", 1, 2)
    assert {e.id for e in result.added} == {"compliance_check", "flow_compliance_to_filing"}
    assert {e.id for e in result.removed} == set(REVISE_LOOP)
    changed = {e.id: e.changes for e in result.changed}
    assert changed["record_service_agreement"] == ["name", "due"]
    assert changed["flow_agreement_to_filing"] == ["target"]
    assert changed["flow_result_to_revise"] == ["target"]
    assert changed["file_onboarding"] == ["incoming/outgoing"]
    assert "incoming/outgoing" in changed["set_outcome_withdrawn"]
    assert "incoming/outgoing" in changed["gw_application_merge"]
    assert "end_approved" not in changed and [e.id for e in result.moved] == ["end_approved"]
    assert next(e for e in result.added if e.id == "compliance_check").type == "userTask"
    same = designer.diff(session, user(session, "admin"), "partner_onboarding", 2, 2)
    assert (same.added, same.removed, same.changed, same.moved) == ([], [], [], [])
    default = designer.diff(session, user(session, "admin"), "partner_onboarding")
    assert (default.from_version, default.to_version) == (1, 2)
    with pytest.raises(NotFoundError):
        designer.diff(session, user(session, "admin"), "partner_onboarding", 1, 3)


def test_diff_names_property_condition_and_script_changes():
    changed = (SOURCE.replace('name="role" value="authority"', 'name="role" value="taskforce"')
               .replace('value="onboarding_filing"', 'value="onboarding_qualification_review"')
               .replace('file_onboarding["decision"] == "return"', 'file_onboarding["decision"] != "approve"')
               .replace('outcome = "approved"', 'outcome = "admitted"'))
    _added, _removed, result, moved = designer.diff_sources({"p.bpmn": SOURCE}, {"p.bpmn": changed})
    assert {e.id: e.changes for e in result} == {
        "file_onboarding": ["role", "formKey"], "flow_filing_returned": ["condition"],
        "set_outcome_approved": ["script"]}
    assert moved == []


# --------------------------------------------------------------------------- migration


@pytest.fixture
def running(session):
    """Four v1 instances: A at both reviews, D with one review done (a waiting join), B at
    the agreement, C returned to the partner (revise_application, which v2 removes)."""
    a, d, b, c = (start(session, code) for code in ("applicant", "partner_a", "candidate", "partner_b"))
    complete(session, "operator", "review_qualifications", d, factories.review())
    for instance in (b, c):
        complete(session, "operator", "review_qualifications", instance, factories.review())
    complete(session, "operator", "admit_personnel", b, factories.review())
    complete(session, "operator", "admit_personnel", c, factories.review("return", "请补充人员身份证明。"))
    claimed = open_task(session, "operator", "record_service_agreement", b)
    tasks.claim(session, user(session, "operator"), claimed.id)
    session.commit()
    return {"A": a, "D": d, "B": b, "C": c}


def test_preview_tells_which_instances_can_move_and_how_their_tasks_map(session, running):
    deploy_v2(session)
    admin = user(session, "admin")
    previews = {p.instance_id: p for p in designer.preview_migration(session, admin, "partner_onboarding", 1)}
    assert set(previews) == {i.id for i in running.values()}
    a, b, c, d = (previews[running[k].id] for k in "ABCD")
    assert a.can_migrate and b.can_migrate and d.can_migrate and not c.can_migrate
    assert {(t.element, t.maps_to) for t in a.tasks} >= {("review_qualifications", "review_qualifications"),
                                                          ("admit_personnel", "admit_personnel")}
    assert [(t.element, t.maps_to) for t in b.tasks] == [("record_service_agreement", "record_service_agreement")]
    assert [(t.element, t.maps_to) for t in c.tasks] == [("revise_application", None)]
    assert "revise_application" in c.reason and c.business_key == running["C"].business_key
    chosen = designer.preview_migration(session, admin, "partner_onboarding", 1, 2, [running["B"].id, 999_999])
    assert [p.instance_id for p in chosen] == [running["B"].id, 999_999] and not chosen[1].can_migrate
    with pytest.raises(ValidationError):
        designer.preview_migration(session, admin, "partner_onboarding", 2, 2)
    with pytest.raises(NotFoundError):
        designer.preview_migration(session, admin, "partner_onboarding", 7)


def _ready_ids(instance) -> set[str]:
    """What the engine says is waiting for a person (a no-op timer poll on a copy)."""
    result = engine.fire_timers(instance.definition.spec_json, instance.state, instance.state_version)
    return {task.id for task in result.ready}


def _open_rows(session, instance) -> dict[str, HumanTask]:
    return {t.id: t for t in processes.open_tasks(session, instance)}


def test_migration_moves_those_that_can_and_leaves_the_other_untouched(session, running):
    deploy_v2(session)
    admin = user(session, "admin")
    c = running["C"]
    c_before = (c.definition_id, c.lock_version, dict(c.state), sorted(_open_rows(session, c)))
    b_rows_before = _open_rows(session, running["B"])
    plan = designer.plan_migration(session, admin, "partner_onboarding", 1)
    session.commit()
    outcomes = {}
    for instance_id in plan.instance_ids:  # what the route does: one transaction per instance
        try:
            outcomes[instance_id] = designer.migrate_one(session, admin, instance_id, plan.to_version,
                                                         from_version=plan.from_version)
            session.commit()
        except EngineError as exc:
            session.rollback()
            outcomes[instance_id] = exc.message
    assert "revise_application" in outcomes[c.id]
    assert all(outcomes[running[k].id].migrated for k in "ABD")

    session.refresh(c)
    assert (c.definition_id, c.lock_version, c.state, sorted(_open_rows(session, c))) == c_before
    assert "instance.migrated" not in [e.action for e in processes.history(session, c)]
    for key in "ABD":
        instance = running[key]
        session.refresh(instance)
        assert instance.definition.version == 2
        assert set(_open_rows(session, instance)) == _ready_ids(instance)
        migrated = [e for e in processes.history(session, instance) if e.action == "instance.migrated"]
        assert [(e.actor, e.payload["from_version"], e.payload["to_version"]) for e in migrated] == [("admin", 1, 2)]
    b_row = next(iter(_open_rows(session, running["B"]).values()))
    assert b_row.id in b_rows_before and b_row.assignee.username == "operator"  # same task, claim kept
    assert b_row.title == "签订服务协议（含合规承诺） / Sign the service agreement"  # the row follows the new version
    assert b_row.due_at == b_row.created_at + timedelta(days=15)
    assert audit.verify(session).ok


def test_migrated_instances_continue_on_the_new_version(session, running):
    deploy_v2(session)
    admin = user(session, "admin")
    for key in "AB":
        designer.migrate_one(session, admin, running[key].id, 2)
        session.commit()
    a, b = running["A"], running["B"]
    complete(session, "operator", "record_service_agreement", b, factories.agreement("NS-FW-2026-201"))
    assert open_elements(session, b) == {"compliance_check"}
    compliance = open_task(session, "operator", "compliance_check", b)
    assert compliance.articles == ["Art. 18", "Art. 27"] and compliance.form_key == "onboarding_qualification_review"
    complete(session, "operator", "compliance_check", b, factories.review())
    complete(session, "authority", "file_onboarding", b, factories.filing())
    session.refresh(b)
    assert (b.status, b.outcome) == ("completed", "approved") and org(session, "candidate").status == "active"

    complete(session, "operator", "review_qualifications", a, factories.review("reject", "资质不全"))
    complete(session, "operator", "admit_personnel", a, factories.review())
    session.refresh(a)
    assert (a.status, a.outcome) == ("completed", "withdrawn")  # v2: no revise loop any more


def test_an_open_row_follows_a_new_role_and_loses_its_claim(session, running):
    admin = user(session, "admin")
    root = etree.fromstring(SOURCE.encode())
    task = _by_id(root, "admit_personnel")
    task.set("name", "人员入场审核（主管部门）")
    props = {p.get("name"): p for p in task.iter(f"{{{NS['spiffworkflow']}}}property")}
    props["role"].set("value", "authority")
    props["articles"].set("value", "Art. 18, Art. 27")
    assert designer.deploy(session, admin, {"partner_onboarding.bpmn": etree.tostring(root, encoding="unicode")}).created
    session.commit()
    d = running["D"]  # admit_personnel is open; the operator claims it
    row = open_task(session, "operator", "admit_personnel", d)
    tasks.claim(session, user(session, "operator"), row.id)
    session.commit()
    designer.migrate_one(session, admin, d.id, 2)
    session.commit()
    session.refresh(row)
    assert (row.status, row.role, row.assignee_id, row.title) == ("open", "authority", None, "人员入场审核（主管部门） / Admit personnel")
    assert row.articles == ["Art. 18", "Art. 27"]
    # the authority's users are told of the task that is now theirs, once, under its new title
    from app.models import Notification

    told = session.execute(select(Notification).where(Notification.task_id == row.id,
                                                      Notification.kind == "task_new")).scalars().all()
    authority = user(session, "authority")
    assert [n.params["task"] for n in told if n.user_id == authority.id] == [row.title]
    complete(session, "authority", "admit_personnel", d, factories.review())
    assert open_elements(session, d) == {"record_service_agreement"}


def test_migrate_one_rechecks_the_instance_under_its_lock(session, running):
    deploy_v2(session)
    admin = user(session, "admin")
    with pytest.raises(ConflictError):
        designer.migrate_one(session, admin, running["A"].id, 2, from_version=2)
    with pytest.raises(ConflictError):
        designer.migrate_one(session, admin, running["A"].id, 1)  # already there
    with pytest.raises(ConflictError):
        designer.migrate_one(session, admin, running["A"].id, 2, process_key="data_authorization")
    with pytest.raises(NotFoundError):
        designer.migrate_one(session, admin, 999_999, 2)
    with pytest.raises(NotFoundError):
        designer.migrate_one(session, admin, running["A"].id, 5)
    session.rollback()
    assert running["A"].definition.version == 1


def test_catalogue_offers_roles_forms_articles_and_actions(session):
    result = designer.catalogue(session, user(session, "admin"))
    assert next(r for r in result.roles if r.key == "operator").en == "Authorized operator"
    filing = next(f for f in result.forms if f.key == "onboarding_filing")
    assert (filing.title, filing.title_en) == ("入驻备案", "Onboarding filing")
    art18 = next(a for a in result.articles if a.article == "Art. 18")
    assert art18.zh == "第18条 合作方入驻及退出" and art18.en == "Art. 18 Partner onboarding and exit"
    assert "activate_partner" in result.actions


# --------------------------------------------------------------------------- data authorization (issue 5)

DA_SOURCE = (Path(__file__).resolve().parents[2] / "workflows" / "data_authorization.bpmn").read_text()
DA_SIGNERS = {"authority": "authority", "finance": "finance", "cyberspace": "cyberspace",
              "public_security": "public_security", "secrecy": "secrecy", "source_dept": "dept_market",
              "third_party": "third_party"}
SECURITY = """<bpmn:userTask xmlns:bpmn="{bpmn}" xmlns:spiffworkflow="{spiffworkflow}" id="security_assessment" name="数据安全评估">
  <bpmn:extensionElements><spiffworkflow:properties>
    <spiffworkflow:property name="role" value="authority"/>
    <spiffworkflow:property name="formKey" value="da_compliance_report"/>
    <spiffworkflow:property name="articles" value="Art. 25, Art. 28"/>
  </spiffworkflow:properties></bpmn:extensionElements>
</bpmn:userTask>""".format(**NS)


def data_authorization_v2() -> str:
    """A security assessment after the joint meeting's evaluation opinion, and the compliance
    review under another element id."""
    root = etree.fromstring(DA_SOURCE.encode())
    _by_id(root, "flow_evaluation_to_agreement_merge").set("targetRef", "security_assessment")
    opinion = _by_id(root, "evaluation_opinion")
    opinion.addnext(etree.fromstring(
        f'<bpmn:sequenceFlow xmlns:bpmn="{NS["bpmn"]}" id="flow_security_to_agreement_merge" '
        'sourceRef="security_assessment" targetRef="gw_agreement_merge"/>'))
    opinion.addnext(etree.fromstring(SECURITY))
    for node in root.xpath("//*[@id='compliance_review'] | //*[@targetRef='compliance_review'] | "
                           "//*[@sourceRef='compliance_review'] | //*[@bpmnElement='compliance_review'] | "
                           "//bpmn:flowNodeRef[text()='compliance_review']", namespaces=NS):
        for attribute in ("id", "targetRef", "sourceRef", "bpmnElement"):
            if node.get(attribute) == "compliance_review":
                node.set(attribute, "compliance_report")
        if node.text == "compliance_review":
            node.text = "compliance_report"
    return etree.tostring(root, encoding="unicode")


def test_a_data_authorization_mid_joint_meeting_moves_to_an_added_step_and_completes(session):
    mid_meeting = processes.start(session, user(session, "partner_a"), "data_authorization",
                                  request(catalog_items=["MKT-003"], purpose="industry_development"))
    waiting_report = processes.start(session, user(session, "partner_a"), "data_authorization",
                                     request(catalog_items=["MKT-003"]))
    session.commit()
    for instance in (mid_meeting, waiting_report):
        complete(session, "operator", "assign_compliance_reviewer", instance, {"reviewer": "operator"})
    complete(session, "operator", "compliance_review", mid_meeting, report())
    signers = list(DA_SIGNERS.items())
    for username, unit in signers[:3]:
        complete(session, username, "joint_signoff", mid_meeting, review("approve", f"{unit}：同意"))
    open_before = {(t.id, t.candidate_org_id) for t in processes.open_tasks(session, mid_meeting)}
    assert len(open_before) == 4

    admin = user(session, "admin")
    files = designer.version_files(session, admin, "data_authorization", 1).files  # with its decision tables
    files["data_authorization.bpmn"] = data_authorization_v2()
    assert designer.deploy(session, admin, files).version == 2
    session.commit()
    previews = {p.instance_id: p for p in designer.preview_migration(session, admin, "data_authorization", 1)}
    assert previews[mid_meeting.id].can_migrate
    refused = previews[waiting_report.id]
    assert not refused.can_migrate and "compliance_review" in refused.reason and "compliance_report" in refused.reason

    designer.migrate_one(session, admin, mid_meeting.id, 2)
    session.commit()
    with pytest.raises(EngineError) as caught:
        designer.migrate_one(session, admin, waiting_report.id, 2)
    session.rollback()
    assert caught.value.element == "compliance_review"
    session.refresh(waiting_report)
    assert waiting_report.definition.version == 1 and open_elements(session, waiting_report) == {"compliance_review"}

    assert {(t.id, t.candidate_org_id) for t in processes.open_tasks(session, mid_meeting)} == open_before
    for username, unit in signers[3:]:
        complete(session, username, "joint_signoff", mid_meeting, review("approve", f"{unit}：同意"))
    complete(session, "authority", "evaluation_opinion", mid_meeting, opinion())
    assert open_elements(session, mid_meeting) == {"security_assessment"}
    complete(session, "authority", "security_assessment", mid_meeting, report())
    complete(session, "operator", "sign_service_agreement", mid_meeting, agreement(service_scope="企业行政处罚信息的加工使用"))
    session.refresh(mid_meeting)
    assert (mid_meeting.status, mid_meeting.outcome, mid_meeting.definition.version) == ("completed", "approved", 2)
    assert sorted(s["unit"] for s in mid_meeting.data["joint_signoffs"]) == sorted(DA_SIGNERS.values())


def test_migration_tells_nobody_again_about_tasks_that_stayed_open(session, running):
    """Moving instances to a new version keeps their open tasks (same rows): their users got
    the "new task" notice when the tasks opened and get no second one."""
    from app.models import Notification

    def notices() -> int:
        return session.execute(select(func.count(Notification.id)).where(Notification.kind == "task_new")).scalar_one()

    deploy_v2(session)
    admin = user(session, "admin")
    before = notices()
    rows_before = {key: set(_open_rows(session, running[key])) for key in "AB"}
    for key in "AB":
        designer.migrate_one(session, admin, running[key].id, 2)
        session.commit()
    assert {key: set(_open_rows(session, running[key])) for key in "AB"} == rows_before
    assert notices() == before
