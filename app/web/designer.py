"""The process designer pages (admins only): the processes, the bpmn-js modeler, versions,
the visual diff and the migration of running instances.

The modeler talks to same-origin JSON endpoints under ``/designer/-/`` (cookie session,
CSRF token in the ``X-CSRFToken`` header); they call the same service functions as the
bearer-token API (:mod:`app.services.designer`).
"""

from __future__ import annotations

import logging
from dataclasses import asdict, is_dataclass
from typing import Any
from xml.sax.saxutils import quoteattr

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.errors import DefinitionError, ElementError, ForbiddenError, GrantFlowError, NotFoundError
from app.extensions import db, login_manager
from app.models import HumanTask, ProcessDefinition, ProcessInstance
from app.services import designer as service
from app.web.auth import current
from app.web.errors import error_body
from app.web.i18n import process_name

bp = Blueprint("designer", __name__, url_prefix="/designer")
log = logging.getLogger(__name__)

BLANK_ID = "new_process"


@bp.before_request
def _admins_only() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if "admin" not in current().roles:
        raise ForbiddenError(_("Only process administrators may use the designer."))
    return None


@bp.errorhandler(GrantFlowError)
def _json_errors(exc: GrantFlowError) -> Any:
    """The modeler's JSON endpoints answer errors in JSON; pages get the HTML error page."""
    if request.path.startswith("/designer/-/"):
        db.session.rollback()
        return jsonify(error_body(exc)), exc.status
    return render_template("error.html", status=exc.status, message=exc.message or exc.code), exc.status


def _plain(value: Any) -> Any:
    """Service results as plain dicts/lists (dataclasses or mappings alike)."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# ------------------------------------------------------------------------------ pages


@bp.get("")
def index() -> Any:
    processes = [{"key": p["process_key"], "name": p["name"], "latest": p["versions"][0], "versions": p["versions"],
                  "running": sum(v["running_instances"] for v in p["versions"])}
                 for p in _all().values()]
    return render_template("designer.html", processes=processes)


@bp.get("/new")
def new() -> Any:
    return _modeler(key=None, version=None, xml=_blank_xml(), bpmn_name="", dirty=False, title=_("New process"))


@bp.post("/upload")
def upload() -> Any:
    """Open an uploaded .bpmn in the modeler; nothing is stored until it is deployed."""
    file = request.files.get("file")
    if file is None or not file.filename:
        flash(_("Choose a .bpmn file to upload."), "error")
        return redirect(url_for("designer.index"))
    content = file.read()
    try:
        xml = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        xml = ""
    if "<" not in xml or "\x00" in xml:
        flash(_("The file is not BPMN XML (UTF-8 text); export the diagram as BPMN 2.0 XML."), "error")
        return redirect(url_for("designer.index"))
    return _modeler(key=None, version=None, xml=xml, bpmn_name="", dirty=True,
                    title=_("Uploaded: %(name)s", name=file.filename[:100]))


@bp.get("/<key>")
def edit(key: str) -> Any:
    process = _process(key)
    wanted = request.args.get("version", type=int)
    version = wanted if wanted in _numbers(key) else process["versions"][0]["version"]
    name, xml = _bpmn_of(key, _files(key, version))
    return _modeler(key=key, version=version, xml=xml, bpmn_name=name, dirty=False,
                    title=_("Edit: %(name)s", name=process_name(process["name"])))


@bp.get("/<key>/versions")
def versions(key: str) -> Any:
    process = _process(key)
    return render_template("designer_versions.html", key=key, name=process["name"], versions=process["versions"])


@bp.get("/<key>/diff")
def diff(key: str) -> Any:
    process = _process(key)
    available = _numbers(key)
    to_v = request.args.get("to", type=int) or available[0]
    from_v = request.args.get("from", type=int) or (available[1] if len(available) > 1 else available[0])
    if from_v not in available or to_v not in available:
        raise NotFoundError(_("No such version."))
    result = _plain(service.diff(db.session, current(), key, from_v, to_v))
    changes = {kind: list(result.get(kind) or []) for kind in ("added", "removed", "changed", "moved")}
    data = {"old_xml": _bpmn_of(key, _files(key, from_v))[1], "new_xml": _bpmn_of(key, _files(key, to_v))[1],
            **{kind: [e["id"] for e in items] for kind, items in changes.items()}}
    return render_template("designer_diff.html", key=key, name=process["name"], from_v=from_v, to_v=to_v,
                           versions=available, changes=changes, data=data)


@bp.route("/<key>/migrate", methods=["GET", "POST"])
def migrate(key: str) -> Any:
    """Pick instances on one version, preview how their open steps map, migrate those that can."""
    process = _process(key)
    available = _numbers(key)
    from_v = request.values.get("from", type=int) or (available[1] if len(available) > 1 else available[0])
    to_v = request.values.get("to", type=int) or available[0]
    if from_v not in available or to_v not in available:
        raise NotFoundError(_("No such version."))
    instances = _running_on(key, from_v)
    chosen: list[int] = []
    previews: dict[int, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    action = request.form.get("action") if request.method == "POST" else None
    if action:
        known = {i.id for i in instances}
        chosen = [int(x) for x in request.form.getlist("instance_id") if x.isdigit() and int(x) in known]
        if not chosen:
            flash(_("Tick at least one instance."), "error")
        elif from_v == to_v:
            flash(_("Choose another version to migrate to."), "error")
        else:
            previews = {p["instance_id"]: p for p in
                        _plain(service.preview_migration(db.session, current(), key, from_v, to_v, chosen))}
            if action == "migrate":
                results = _migrate(key, from_v, to_v, chosen, previews)
                instances, previews = _running_on(key, from_v), {}
    rows = [{"id": i.id, "business_key": i.business_key, "title": i.title, "tasks": _open_task_titles(i.id),
             "preview": previews.get(i.id), "checked": (i.id in chosen) if chosen else True} for i in instances]
    return render_template("designer_migrate.html", key=key, name=process["name"], from_v=from_v, to_v=to_v,
                           targets=[v for v in available if v != from_v] or available, rows=rows,
                           previewed=bool(previews), results=results)


# --------------------------------------------------------------- JSON for the modeler


@bp.post("/-/validate")
def api_validate() -> Any:
    """{"files": {name: xml}, "base_key"?} -> 200 {"errors": []} | 422 {"errors": [...]}. Stores nothing."""
    files, _comment = _payload()
    errors = [{"element": e.element, "message": e.message} for e in service.validate(files, db.session)]
    return jsonify({"errors": errors}), (422 if errors else 200)


@bp.post("/-/deploy")
def api_deploy() -> Any:
    """{"files", "comment", "base_key"?} -> 201 new version | 200 identical content | 422 errors."""
    files, comment = _payload()
    try:
        result = service.deploy(db.session, current(), files, comment)
    except DefinitionError as exc:
        db.session.rollback()
        return jsonify(error_body(exc)), 422
    db.session.commit()
    return jsonify(_plain(result)), (201 if result.created else 200)


def _payload() -> tuple[dict[str, Any], str]:
    """The files (and comment) the modeler sends. The other files of the base process's
    newest version (its decision tables) are added when the modeler does not send them."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("files"), dict):
        raise DefinitionError(_("Send the diagram as {\"files\": {\"name.bpmn\": xml}}."),
                              [ElementError(None, _("no BPMN file was sent"))])
    files: dict[str, Any] = dict(body["files"])
    base = body.get("base_key")
    if isinstance(base, str) and base in _all():
        for name, xml in _files(base, None).items():
            if name not in files and not name.endswith(".bpmn"):
                files[name] = xml
    comment = body.get("comment")
    return files, (comment.strip()[:500] if isinstance(comment, str) else "")


# ------------------------------------------------------------------------------ helpers


def _all() -> dict[str, dict[str, Any]]:
    """Every process by key with its versions (newest first), once per request."""
    if "designer_versions" not in g:
        g.designer_versions = {p["process_key"]: p for p in _plain(service.versions(db.session, current()))
                               if p["versions"]}
    result: dict[str, dict[str, Any]] = g.designer_versions
    return result


def _process(key: str) -> dict[str, Any]:
    process = _all().get(key)
    if process is None:
        raise NotFoundError(_("No process %(key)s.", key=key))
    return process


def _numbers(key: str) -> list[int]:
    return [v["version"] for v in _process(key)["versions"]]


def _files(key: str, version: int | None) -> dict[str, str]:
    if version is None:
        version = _numbers(key)[0]
    return dict(service.version_files(db.session, current(), key, version).files)


def _bpmn_of(key: str, files: dict[str, str]) -> tuple[str, str]:
    """The (name, xml) of the BPMN file that defines process ``key``."""
    bpmn = {name: xml for name, xml in files.items() if name.endswith(".bpmn")}
    if not bpmn:
        raise NotFoundError(_("This version has no BPMN file."))
    for name, xml in bpmn.items():
        if f'id="{key}"' in xml:
            return name, xml
    return next(iter(bpmn.items()))


def _running_on(key: str, version: int) -> list[ProcessInstance]:
    query = (select(ProcessInstance).join(ProcessDefinition, ProcessInstance.definition_id == ProcessDefinition.id)
             .where(ProcessDefinition.process_key == key, ProcessDefinition.version == version,
                    ProcessInstance.status == "running")
             .order_by(ProcessInstance.id))
    return list(db.session.execute(query).scalars())


def _open_task_titles(instance_id: int) -> list[str]:
    query = select(HumanTask.title).where(HumanTask.instance_id == instance_id, HumanTask.status == "open")
    return list(db.session.execute(query.order_by(HumanTask.created_at, HumanTask.id)).scalars())


def _migrate(key: str, from_v: int, to_v: int, ids: list[int],
             previews: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Migrate those that can, each in its own transaction; the others keep their version
    and are listed with the reason."""
    user = current()
    results = []
    for instance_id in ids:
        preview = previews.get(instance_id, {})
        refused = {"instance_id": instance_id, "business_key": preview.get("business_key") or str(instance_id),
                   "migrated": False, "from_version": from_v, "to_version": to_v}
        if not preview.get("can_migrate"):
            results.append({**refused, "reason": preview.get("reason") or _("The instance cannot migrate.")})
            continue
        try:
            outcome = service.migrate_one(db.session, user, instance_id, to_v, from_version=from_v, process_key=key)
        except GrantFlowError as exc:
            db.session.rollback()
            results.append({**refused, "reason": exc.message})
            continue
        except Exception:  # one instance's failure must not stop the others
            db.session.rollback()
            log.exception("migrating instance %s failed", instance_id)
            results.append({**refused, "reason": _("Something went wrong on our side.")})
            continue
        db.session.commit()
        results.append(_plain(outcome))
    return results


def _catalogue() -> dict[str, Any]:
    """Roles, forms and articles for the side panel's choices."""
    result: dict[str, Any] = _plain(service.catalogue(db.session, current()))
    return result


def _blank_xml() -> str:
    keys = set(_all())
    key = BLANK_ID
    n = 1
    while key in keys:
        n += 1
        key = f"{BLANK_ID}_{n}"
    name = "新流程 / New process"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="Definitions_{key}" targetNamespace="http://grantflow.nanshan.example/bpmn/{key}" exporter="GrantFlow designer" exporterVersion="1.0">
  <bpmn:process id="{key}" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start" name={quoteattr(_("Start"))} />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="BPMNDiagram_{key}">
    <bpmndi:BPMNPlane id="BPMNPlane_{key}" bpmnElement="{key}">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="180" y="160" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _modeler(*, key: str | None, version: int | None, xml: str, bpmn_name: str, dirty: bool, title: str) -> Any:
    data = {
        "key": key, "version": version, "xml": xml, "bpmn_name": bpmn_name, "dirty": dirty,
        "catalogue": _catalogue(), "known_keys": sorted(_all()),
        "max_upload": current_app.config.get("MAX_CONTENT_LENGTH") or 5 * 1024 * 1024,
    }
    return render_template("designer_modeler.html", key=key, version=version, title=title, data=data,
                           messages=_js_messages())


def _js_messages() -> dict[str, str]:
    """The modeler's own texts, translated here so the JS carries no language of its own."""
    return {
        "network_error": _("The server cannot be reached; check the connection and try again."),
        "server_error": _("Something went wrong on our side."),
        "csrf_error": _("The page expired; reload it (your unsaved changes will be lost, download them first)."),
        "import_failed": _("The diagram cannot be opened: %(error)s"),
        "lost_content": _("Part of the file cannot be edited here and would be lost: %(detail)s"),
        "lost_warning": _("This file contains content the designer does not know; see the problems below."),
        "opened_file": _("File opened; it is not deployed yet."),
        "new_version_of": _("File opened; deploying it makes a new version of %(key)s."),
        "whole_file": _("File"),
        "problems_at": _("%(n)s problems at %(element)s"),
        "n_problems": _("%(n)s problems"),
        "no_problems": _("No problems found."),
        "validating": _("Checking…"),
        "fix_before_deploy": _("Fix these %(n)s problems before deploying:"),
        "valid_ready": _("The diagram is valid and ready to deploy."),
        "comment_required": _("Say what changed in a comment."),
        "deploying": _("Deploying…"),
        "deployed": _("Deployed as version %(version)s."),
        "unchanged": _("Unchanged: identical to version %(version)s; no new version."),
        "see_versions": _("See the versions"),
        "version_n": _("Version %(version)s"),
        "discard_changes": _("Discard your unsaved changes and open the file?"),
        "file_too_large": _("The file is too large."),
        "choose": _("— choose —"),
        "unknown_value": _("%(value)s (unknown)"),
        "articles": _("Articles"),
        "chosen": _("Chosen: %(items)s"),
        "none_chosen": _("None chosen."),
        "due": _("Due within (ISO duration)"),
        "due_help": _("For example P5D: five days after the step opens."),
        "due_invalid": _("Not an ISO 8601 duration such as P5D or PT12H."),
        "due_presets": _("Common durations"),
        "n_days": _("%(n)s days"),
        "other_properties": _("Other properties"),
        "name": _("Name"),
        "element_id": _("Id"),
        "element_id_help": _("Running instances find their open steps by this id: keep it when you change a step."),
        "bad_id": _("An id starts with a letter or _ and has only letters, digits, _, - and ."),
        "id_taken": _("The id %(id)s is already used in this diagram."),
        "no_process": _("No process in this diagram."),
        "type_process": _("Process"),
        "process_key": _("Process key"),
        "process_key_help": _("Letters, digits and _; it names the process for good once deployed."),
        "bad_key": _("A process key starts with a letter and has only letters, digits, _, - and ."),
        "process_name_help": _("Write it as 中文 / English."),
        "type_user_task": _("User task"),
        "role": _("Role"),
        "role_or_expression": _("Or give a role expression under Advanced."),
        "form": _("Form"),
        "advanced": _("Advanced"),
        "texts": _("Guidance and English texts"),
        "guidance": _("Guidance (Chinese)"),
        "guidance_help": _("Shown at the top of the task page: what to check and on which articles it rests."),
        "title_en": _("English title"),
        "title_en_help": _("The name above is the Chinese title; this one is shown to readers who chose English."),
        "guidance_en": _("Guidance (English)"),
        "role_expression": _("Role expression"),
        "role_expression_help": _("Instead of a role: an expression giving the role."),
        "org_expression": _("Organisation expression"),
        "org_expression_help": _("An expression giving the code of the organisation whose users get the task."),
        "type_start": _("Start event"),
        "start_form": _("Start form"),
        "start_form_help": _("Leave empty for processes only the system starts."),
        "start_roles": _("Who may start it"),
        "type_flow": _("Sequence flow"),
        "condition": _("Condition"),
        "condition_help": _("Restricted Python, e.g. review[\"decision\"] == \"approve\"."),
        "default_no_condition": _("The default flow has no condition."),
        "default_flow": _("Default flow (taken when no condition holds)"),
        "default_help": _("Each exclusive or inclusive gateway needs conditions on its flows or a default."),
        "flow_no_condition": _("Only flows leaving an exclusive or inclusive gateway carry a condition."),
        "action": _("Action"),
        "no_grantflow_props": _("This element has no GrantFlow properties to edit."),
    }
