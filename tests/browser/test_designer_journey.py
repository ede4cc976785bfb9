"""The process designer in Chromium: the admin edits partner_onboarding in the modeler's side
panel, sees a validation error on the diagram, fixes it, deploys version 2 with Ctrl+S, reads
the diff, and migrates a running instance; every workflow survives a modeler round trip."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from sqlalchemy import select

from app.extensions import db
from app.models import ProcessInstance
from app.services import definitions, processes
from tests import factories
from tests.helpers import user

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
TEXT_CHILDREN = ("conditionExpression", "script", "timeDuration", "timeDate", "timeCycle", "loopDataInputRef",
                 "loopDataOutputRef", "completionCondition")
DEFAULTS = {("cancelActivity", "true")}  # bpmn-js writes this default out; it means the same


def _start_onboarding(app) -> int:
    with app.app_context():
        instance = processes.start(db.session, user(db.session, "applicant"), "partner_onboarding",
                                   factories.application())
        db.session.commit()
        return instance.id


def _version_of(app, instance_id: int) -> int:
    with app.app_context():
        instance = db.session.execute(select(ProcessInstance).where(ProcessInstance.id == instance_id)).scalar_one()
        return instance.definition.version


def _axe(page) -> list:
    page.add_script_tag(path=str(AXE))
    return page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))""")


def _errors(page) -> str:
    return page.get_attribute("#designer", "data-errors") or ""


def test_edit_validate_deploy_diff_and_migrate(new_page, live_server, app):
    instance_id = _start_onboarding(app)  # on version 1
    page = new_page("admin")
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.click("nav a[href='/designer']")
    page.click("a[href='/designer/partner_onboarding']")
    page.wait_for_selector("#designer[data-ready=true]")
    page.wait_for_function("document.getElementById('designer').dataset.errors === '0'")
    # the modeler speaks Chinese (bpmn-js-i18n through the translate module)
    assert page.get_attribute(".djs-palette .entry.bpmn-icon-start-event-none", "aria-label") == "创建开始事件"

    # select a user task: the side panel shows its GrantFlow properties
    page.click("g[data-element-id=review_qualifications]")
    panel = "#designer-panel-body"
    page.wait_for_selector(f"{panel}[data-element=review_qualifications]")
    assert page.input_value(f"{panel} select[name=role]") == "operator"
    assert page.input_value(f"{panel} select[name=formKey]") == "onboarding_qualification_review"
    assert page.is_checked(f"{panel} input[value='Art. 18']")
    assert page.input_value(f"{panel} input[name=due]") == "P5D"
    page.fill(f"{panel} input[name=due]", "P7D")
    page.press(f"{panel} input[name=due]", "Tab")
    assert page.get_attribute("#designer", "data-dirty") == "true"
    # its guidance and English texts, folded away while both English texts are there
    assert page.input_value(f"{panel} input[name=titleEn]") == "Review the qualifications"
    assert page.input_value(f"{panel} textarea[name=documentation]").startswith("授权运营单位按照有关规定")
    page.click(f"{panel} details.texts summary")
    page.fill(f"{panel} textarea[name=documentationEn]", "Check the licence, the security policy and the MLPS filing.")
    page.press(f"{panel} textarea[name=documentationEn]", "Tab")
    assert page.evaluate("""() => { const e = new Event('beforeunload', {cancelable: true});
        window.dispatchEvent(e); return e.defaultPrevented; }""")

    # a user task without a form: live validation marks it on the diagram
    page.select_option(f"{panel} select[name=formKey]", "")
    badge = ".djs-overlays .gf-error-badge[data-element=review_qualifications]"
    page.wait_for_selector(badge)
    assert page.locator("g.djs-element.gf-invalid[data-element-id=review_qualifications]").count() == 1
    assert "formKey" in page.inner_text("#designer-errors")
    assert _axe(page) == []
    page.click("g[data-element-id=admit_personnel]")
    page.click("#designer-errors button[data-element=review_qualifications]")  # the error selects its element
    page.wait_for_selector(f"{panel}[data-element=review_qualifications]")
    page.select_option(f"{panel} select[name=formKey]", "onboarding_qualification_review")
    page.wait_for_function("document.getElementById('designer').dataset.errors === '0'")
    assert page.locator(badge).count() == 0

    # Ctrl+S: validate, then deploy with a comment
    page.keyboard.press("Control+s")
    page.wait_for_selector("#deploy-dialog[open] #deploy-submit:not([disabled])")
    page.fill("#deploy-comment", "资质审查期限改为7天")
    page.click("#deploy-submit")
    page.wait_for_selector("#deploy-outcome[data-version='2'][data-created=true]")
    assert not page.evaluate("document.getElementById('designer').designer.state.dirty")
    with app.app_context():
        deployed = definitions.latest(db.session, "partner_onboarding")
        step = deployed.meta["tasks"]["review_qualifications"]
        assert (deployed.version, step["due"]) == (2, "P7D")
        assert step["documentation_en"] == "Check the licence, the security policy and the MLPS filing."
    page.click("#deploy-cancel")
    # deploying the same diagram again makes no new version
    page.keyboard.press("Control+s")
    page.wait_for_selector("#deploy-dialog[open] #deploy-submit:not([disabled])")
    page.fill("#deploy-comment", "again")
    page.click("#deploy-submit")
    page.wait_for_selector("#deploy-outcome[data-version='2'][data-created=false]")
    page.click("#deploy-cancel")

    # the versions list
    page.click(".page-head a[href='/designer/partner_onboarding/versions']")
    page.wait_for_url(live_server + "/designer/partner_onboarding/versions")
    newest = page.locator("#designer-versions tr[data-version='2']")
    assert "资质审查期限改为7天" in newest.inner_text() and "admin" in newest.inner_text()
    assert page.inner_text("#designer-versions tr[data-version='1'] td.running") == "1"
    assert _axe(page) == []

    # the diff: the changed task, amber in both diagrams, with its old and new due
    page.click("tr[data-version='2'] a[href*='/diff']")
    page.wait_for_selector("#designer[data-rendered=true]")
    change = page.locator("li.change-changed[data-element=review_qualifications]")
    assert "P5D" in change.inner_text() and "P7D" in change.inner_text()
    for side in ("#diff-old", "#diff-new"):
        assert page.locator(f"{side} g.gf-changed[data-element-id=review_qualifications]").count() == 1
    assert page.locator("li.change-added, li.change-removed").count() == 0
    assert _axe(page) == []

    # migrate the running instance from version 1
    page.goto(live_server + "/designer/partner_onboarding/versions")
    page.click("tr[data-version='1'] a.migrate")
    row = f"#migrate-instances tr[data-instance='{instance_id}']"
    assert page.is_checked(f"{row} input[name=instance_id]")
    page.click("button[value=preview]")
    page.wait_for_selector(f"{row} td.preview .result-ok")
    assert "review_qualifications" in page.inner_text(f"{row} td.preview")
    assert _axe(page) == []
    page.click("button[value=migrate]")
    result = page.locator(f"#migration-results tr[data-instance='{instance_id}']")
    assert "migrated" in (result.get_attribute("class") or "").split(), result.inner_text()
    assert _version_of(app, instance_id) == 2
    assert problems == []


def _signature(xml: str) -> tuple[list, list]:
    """Every spiffworkflow element (tag, attributes, text) and every BPMN element with the
    parts the engine reads, independent of formatting."""
    root = ET.fromstring(xml.encode())
    spiff = sorted((e.tag, sorted(e.attrib.items()), (e.text or "").strip()) for e in root.iter() if e.tag.startswith(SPIFF))
    bpmn = sorted((e.tag, sorted(a for a in e.attrib.items() if a not in DEFAULTS),
                   (e.text or "").strip() if e.tag.endswith(TEXT_CHILDREN) else "")
                  for e in root.iter() if e.tag.startswith(BPMN) and not e.tag.endswith(("incoming", "outgoing")))
    return spiff, [repr(x) for x in bpmn]


def test_every_workflow_survives_the_modeler_round_trip(new_page):
    page = new_page("admin")
    page.click("nav a[href='/designer']")
    page.click("a[href='/designer/new']")
    page.wait_for_selector("#designer[data-ready=true]")
    for path in sorted((ROOT / "workflows").glob("*.bpmn")):
        source = path.read_text(encoding="utf-8")
        result = page.evaluate("""async (xml) => {
            const d = document.getElementById('designer').designer;
            await d.open(xml, true);
            const saved = (await d.modeler.saveXML({format: true})).xml;
            return {xml: saved, lost: d.state.lost, errors: await d.validate()};
        }""", source)
        assert result["lost"] == [], path.name
        assert _signature(result["xml"]) == _signature(source), path.name
        assert result["errors"] == [], (path.name, result["errors"])


def test_a_new_process_with_a_user_task_reaches_the_right_inbox(new_page, live_server, app):
    page = new_page("admin")
    page.goto(live_server + "/designer")
    page.click("a[href='/designer/new']")
    page.wait_for_selector("#designer[data-ready=true]")
    panel = "#designer-panel-body"
    # nothing selected: the panel edits the process itself
    page.fill(f"{panel} input[name=process_id]", "compliance_check")
    page.press(f"{panel} input[name=process_id]", "Tab")
    page.fill(f"{panel} input[name=process_name]", "合规复核 / Compliance check")
    page.press(f"{panel} input[name=process_name]", "Tab")
    page.check(f"{panel} input[value='Art. 27']")
    # the start event: who may start it
    page.click("g[data-element-id=start]")
    page.check(f"{panel} input[value=operator]")
    # append a task from the context pad and make it a user task
    page.click(".djs-context-pad .entry[data-action='append.append-task']")
    page.wait_for_selector(f"{panel}:not([data-element=start])")  # the new task is selected
    page.wait_for_selector(".djs-direct-editing-parent", state="visible")  # and its label is being edited
    page.keyboard.type("合规复核")
    page.keyboard.press("Enter")
    page.wait_for_selector(".djs-direct-editing-parent", state="hidden")
    page.click(".djs-context-pad .entry[data-action=replace]")
    page.wait_for_selector(".djs-popup [data-id=replace-with-user-task]", state="visible")
    page.click(".djs-popup [data-id=replace-with-user-task]")
    page.wait_for_selector(f"{panel} select[name=role]")
    task_id = page.get_attribute(panel, "data-element")
    page.wait_for_selector(f".djs-overlays .gf-error-badge[data-element='{task_id}']")  # no role, no form yet
    page.fill(f"{panel} input[name=element_id]", "compliance_review")
    page.press(f"{panel} input[name=element_id]", "Tab")
    assert page.input_value(f"{panel} input[name=name]") == "合规复核"
    page.select_option(f"{panel} select[name=role]", "operator")
    page.select_option(f"{panel} select[name=formKey]", "onboarding_qualification_review")
    page.check(f"{panel} input[value='Art. 27']")
    page.click(f"{panel} button[data-value=P3D]")
    page.click(".djs-context-pad .entry[data-action='append.end-event']")
    page.wait_for_function("document.getElementById('designer').dataset.errors === '0'")
    assert page.locator(".gf-error-badge").count() == 0

    page.click("#designer-deploy")
    page.wait_for_selector("#deploy-dialog[open] #deploy-submit:not([disabled])")
    page.fill("#deploy-comment", "新增合规复核流程")
    page.click("#deploy-submit")
    page.wait_for_selector("#deploy-outcome[data-version='1'][data-created=true]")
    assert page.url == live_server + "/designer/compliance_check"

    with app.app_context():
        instance = processes.start(db.session, user(db.session, "operator"), "compliance_check", {})
        db.session.commit()
    operator = new_page("operator")
    operator.goto(live_server + "/inbox")
    assert "合规复核" in operator.inner_text("main")
    assert instance.process_key == "compliance_check"


def test_an_uploaded_broken_diagram_shows_its_errors_and_english_works(new_page, live_server, tmp_path):
    source = (ROOT / "workflows" / "partner_onboarding.bpmn").read_text(encoding="utf-8")
    broken = source.replace('<spiffworkflow:property name="role" value="authority"/>', "")
    upload = tmp_path / "broken.bpmn"
    upload.write_text(broken, encoding="utf-8")
    page = new_page("admin")
    page.click("form[action='/locale'] button[name=locale]")  # English
    page.goto(live_server + "/designer")
    page.set_input_files("#bpmn-file", str(upload))
    page.click("form[action='/designer/upload'] button")
    page.wait_for_selector("#designer[data-ready=true]")
    assert page.get_attribute(".djs-palette .entry.bpmn-icon-start-event-none", "aria-label") == "Create start event"
    page.wait_for_selector(".djs-overlays .gf-error-badge[data-element=file_onboarding]")
    assert "file_onboarding" in page.inner_html("#designer-errors")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#deploy-dialog[open] #deploy-result .error")
    assert page.is_disabled("#deploy-submit")
    page.click("#deploy-cancel")
    assert page.evaluate("document.getElementById('designer').designer.state.dirty")
    assert _axe(page) == []
