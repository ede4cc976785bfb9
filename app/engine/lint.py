"""Deploy-time checks of BPMN/DMN documents, run on the XML before SpiffWorkflow parses it.

Every check returns a list of :class:`ElementError` naming the offending element so that
``compile_definition`` can report all problems at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from app.engine.meta import is_iso_duration, split_list
from app.engine.sandbox import Mode, check_expression
from app.errors import ElementError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}

# Flow elements of BPMN 2.0; the ones SpiffWorkflow's spiff parser has no parser for are refused.
_FLOW_NODES = (
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask",
    "businessRuleTask", "subProcess", "adHocSubProcess", "transaction", "callActivity",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent",
    "boundaryEvent", "implicitThrowEvent", "exclusiveGateway", "inclusiveGateway",
    "parallelGateway", "complexGateway", "eventBasedGateway", "callChoreography",
    "subChoreography", "choreographyTask",
)
_SUPPORTED_TAGS = set(SpiffBpmnParser.PARSER_CLASSES) | set(SpiffBpmnParser.OVERRIDE_PARSER_CLASSES)
# Parsed by SpiffWorkflow but not driven by GrantFlow's runtime (no API starts ad-hoc tasks).
_REFUSED_ANYWAY = {"adHocSubProcess"}
UNSUPPORTED_ELEMENTS = frozenset(
    name for name in _FLOW_NODES
    if f"{{{BPMN_NS}}}{name}" not in _SUPPORTED_TAGS or name in _REFUSED_ANYWAY
)
# Event definitions SpiffWorkflow silently treats as "none" events.
UNSUPPORTED_EVENT_DEFINITIONS = frozenset({"linkEventDefinition", "compensateEventDefinition"})

# spiffworkflow extension elements whose text is Python, with the compile mode.
_SPIFF_CODE_ELEMENTS: dict[str, Mode] = {
    "preScript": "exec", "postScript": "exec", "messagePayload": "eval", "payloadExpression": "eval",
}
_EXPRESSION_PROPERTIES = ("roleExpression", "orgExpression")
_BARE_ISO = re.compile(r"^\s*(R\d*/)?P[0-9YMWDTHS.,]+\s*$|^\s*\d{4}-\d{2}-\d{2}T[0-9:.+\-Z]*\s*$")


@dataclass(frozen=True)
class LintContext:
    """The host's catalogues; ``None`` skips the corresponding check."""

    known_roles: set[str] | None = None
    known_forms: set[str] | None = None
    known_articles: set[str] | None = None
    known_actions: set[str] | None = None


def _q(name: str) -> str:
    """Clark notation of a BPMN element name."""
    return f"{{{BPMN_NS}}}{name}"


def _local(node: etree._Element) -> str:
    """Local name of an element (empty for comments and processing instructions)."""
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def owner_id(node: etree._Element) -> str | None:
    """The id of ``node`` or of its nearest ancestor that has one."""
    while node is not None:
        if isinstance(node.tag, str) and node.get("id"):
            return node.get("id")
        node = node.getparent()
    return None


def properties(node: etree._Element) -> dict[str, str]:
    """The ``spiffworkflow:property`` name/value pairs directly on ``node``."""
    found = node.xpath("./bpmn:extensionElements/spiffworkflow:properties//spiffworkflow:property", namespaces=NS)
    return {prop.get("name"): prop.get("value") for prop in found if prop.get("name")}


def _text(node: etree._Element | None) -> str | None:
    """Text of ``node`` exactly as SpiffWorkflow will run it, or None when absent or blank."""
    if node is None or node.text is None or not node.text.strip():
        return None
    return node.text


def _code_errors(element: str | None, what: str, source: str | None, mode: Mode) -> list[ElementError]:
    """ElementErrors for a script/expression that :func:`check_expression` refuses."""
    if source is None:
        return []
    return [ElementError(element, f"{what}: {problem}") for problem in check_expression(source, mode)]


# --------------------------------------------------------------------------- BPMN


def lint_bpmn(root: etree._Element, ctx: LintContext) -> list[ElementError]:
    """Run every BPMN check on one document and return all problems found."""
    errors: list[ElementError] = []
    errors += _unsupported(root)
    errors += _user_tasks(root, ctx)
    errors += _start_events_and_processes(root, ctx)
    errors += _gateways(root)
    errors += _flow_conditions(root)
    errors += _scripts(root)
    errors += _timers(root)
    errors += _loops(root)
    errors += _conditional_events(root)
    errors += _spiff_code(root)
    errors += _service_tasks(root, ctx)
    return errors


def _unsupported(root: etree._Element) -> list[ElementError]:
    """Refuse flow elements and event definitions the engine cannot run."""
    errors = []
    for node in root.iter(etree.Element):
        if etree.QName(node).namespace != BPMN_NS:
            continue
        name = _local(node)
        if name in UNSUPPORTED_ELEMENTS:
            errors.append(ElementError(owner_id(node), f"bpmn:{name} is not supported"))
        elif name in UNSUPPORTED_EVENT_DEFINITIONS:
            errors.append(ElementError(owner_id(node.getparent()), f"bpmn:{name} is not supported"))
    return errors


def _user_tasks(root: etree._Element, ctx: LintContext) -> list[ElementError]:
    """Check role, formKey, articles, due, bulkApprovable and the expression properties of user tasks."""
    errors = []
    for task in root.iter(_q("userTask")):
        task_id = task.get("id")
        props = properties(task)
        errors += _role_and_form_errors(task_id, props, ctx)
        errors += _article_errors(task_id, props.get("articles"), ctx)
        due = props.get("due")
        if due is not None and not is_iso_duration(due):
            errors.append(ElementError(task_id, f"'due' must be an ISO 8601 duration such as P5D, got '{due}'"))
        bulk = props.get("bulkApprovable")
        if bulk is not None and bulk.strip().lower() not in ("true", "false"):
            errors.append(ElementError(task_id, f"'bulkApprovable' must be 'true' or 'false', got '{bulk}'"))
        for name in _EXPRESSION_PROPERTIES:
            errors += _code_errors(task_id, name, props.get(name), "eval")
    return errors


def _role_and_form_errors(task_id: str | None, props: dict[str, str], ctx: LintContext) -> list[ElementError]:
    """A user task needs a role (or roleExpression) and a formKey, known to the host."""
    errors = []
    role = props.get("role")
    if not role and not props.get("roleExpression"):
        errors.append(ElementError(task_id, "user task has no 'role' (or 'roleExpression') property"))
    elif role and ctx.known_roles is not None and role not in ctx.known_roles:
        errors.append(ElementError(task_id, f"unknown role '{role}'"))
    form = props.get("formKey")
    if not form:
        errors.append(ElementError(task_id, "user task has no 'formKey' property"))
    elif ctx.known_forms is not None and form not in ctx.known_forms:
        errors.append(ElementError(task_id, f"unknown form '{form}'"))
    return errors


def _article_errors(element: str | None, value: str | None, ctx: LintContext) -> list[ElementError]:
    """Errors for articles (comma separated) that are not in the host's catalogue."""
    if ctx.known_articles is None:
        return []
    return [
        ElementError(element, f"unknown article '{article}'")
        for article in split_list(value)
        if article not in ctx.known_articles
    ]


def _start_events_and_processes(root: etree._Element, ctx: LintContext) -> list[ElementError]:
    """Check the process ``articles`` and the start events' ``formKey``/``startRoles``."""
    errors = []
    for process in root.iter(_q("process")):
        errors += _article_errors(process.get("id"), properties(process).get("articles"), ctx)
    for start in root.iter(_q("startEvent")):
        props = properties(start)
        form = props.get("formKey")
        if form and ctx.known_forms is not None and form not in ctx.known_forms:
            errors.append(ElementError(start.get("id"), f"unknown form '{form}'"))
        for role in split_list(props.get("startRoles")):
            if ctx.known_roles is not None and role not in ctx.known_roles:
                errors.append(ElementError(start.get("id"), f"unknown role '{role}' in startRoles"))
    return errors


def _gateways(root: etree._Element) -> list[ElementError]:
    """Every non-default flow leaving a branching exclusive/inclusive gateway needs a condition."""
    errors = []
    flows_by_source: dict[str, list[etree._Element]] = {}
    for flow in root.iter(_q("sequenceFlow")):
        flows_by_source.setdefault(flow.get("sourceRef"), []).append(flow)
    for kind in ("exclusiveGateway", "inclusiveGateway"):
        for gateway in root.iter(_q(kind)):
            outgoing = flows_by_source.get(gateway.get("id"), [])
            if len(outgoing) < 2:
                continue
            for flow in outgoing:
                condition = _text(flow.find(_q("conditionExpression")))
                if flow.get("id") != gateway.get("default") and condition is None:
                    errors.append(ElementError(
                        flow.get("id"),
                        f"sequence flow leaving {kind} '{gateway.get('id')}' has no condition "
                        "and is not the gateway's default flow",
                    ))
    return errors


def _flow_conditions(root: etree._Element) -> list[ElementError]:
    """Check every sequence flow condition expression."""
    errors = []
    for flow in root.iter(_q("sequenceFlow")):
        condition = _text(flow.find(_q("conditionExpression")))
        what = f"condition (flow from '{flow.get('sourceRef')}')"
        errors += _code_errors(flow.get("id"), what, condition, "eval")
    return errors


def _scripts(root: etree._Element) -> list[ElementError]:
    """Check every script task's script (a missing script is an error too)."""
    errors = []
    for task in root.iter(_q("scriptTask")):
        script = _text(task.find(_q("script")))
        if script is None:
            errors.append(ElementError(task.get("id"), "script task has no script"))
        errors += _code_errors(task.get("id"), "script", script, "exec")
    return errors


def _timers(root: etree._Element) -> list[ElementError]:
    """Check timer expressions (they are Python: ISO values must be quoted strings)."""
    errors = []
    for timer in root.iter(_q("timerEventDefinition")):
        event_id = owner_id(timer.getparent())
        found = [child for child in timer if _local(child) in ("timeDate", "timeDuration", "timeCycle")]
        if not found:
            errors.append(ElementError(event_id, "timer has no timeDate, timeDuration or timeCycle"))
        for child in found:
            source = _text(child)
            if source is None:
                errors.append(ElementError(event_id, f"timer {_local(child)} is empty"))
            elif _BARE_ISO.match(source):
                errors.append(ElementError(
                    event_id, f"timer {_local(child)} is a Python expression: quote it, e.g. \"{source.strip()}\""
                ))
            else:
                errors += _code_errors(event_id, f"timer {_local(child)}", source, "eval")
    return errors


def _loops(root: etree._Element) -> list[ElementError]:
    """Check multi-instance and standard loop expressions."""
    errors = []
    for loop in root.iter(_q("multiInstanceLoopCharacteristics"), _q("standardLoopCharacteristics")):
        task_id = owner_id(loop)
        for child in loop:
            if _local(child) in ("loopCardinality", "completionCondition", "loopCondition"):
                errors += _code_errors(task_id, _local(child), _text(child), "eval")
            elif _local(child) in ("loopDataInputRef", "loopDataOutputRef"):
                ref = _text(child)
                if ref is not None and not ref.isidentifier():
                    errors.append(ElementError(task_id, f"{_local(child)} must be a variable name, got '{ref}'"))
    return errors


def _conditional_events(root: etree._Element) -> list[ElementError]:
    """Check conditional event conditions."""
    errors = []
    for definition in root.iter(_q("conditionalEventDefinition")):
        condition = _text(definition.find(_q("condition")))
        errors += _code_errors(owner_id(definition.getparent()), "conditional event", condition, "eval")
    return errors


def _spiff_code(root: etree._Element) -> list[ElementError]:
    """Check spiffworkflow pre/post scripts and message payload expressions."""
    errors = []
    for node in root.iter(etree.Element):
        if etree.QName(node).namespace == SPIFF_NS and _local(node) in _SPIFF_CODE_ELEMENTS:
            mode = _SPIFF_CODE_ELEMENTS[_local(node)]
            errors += _code_errors(owner_id(node), _local(node), _text(node), mode)
    return errors


def _service_tasks(root: etree._Element, ctx: LintContext) -> list[ElementError]:
    """Service tasks need a known operator and parameters with an id, a type and a value."""
    errors = []
    for task in root.iter(_q("serviceTask")):
        task_id = task.get("id")
        operators = task.xpath("./bpmn:extensionElements/spiffworkflow:serviceTaskOperator", namespaces=NS)
        if not operators:
            errors.append(ElementError(task_id, "service task has no spiffworkflow:serviceTaskOperator"))
            continue
        operator = operators[0]
        name = operator.get("id")
        if not name:
            errors.append(ElementError(task_id, "service task operator has no id"))
        elif ctx.known_actions is not None and name not in ctx.known_actions:
            errors.append(ElementError(task_id, f"unknown service action '{name}'"))
        errors += list(_parameter_errors(task_id, operator))
    return errors


def _parameter_errors(task_id: str | None, operator: etree._Element) -> Iterator[ElementError]:
    """Yield problems with a service operator's parameters (missing attributes, bad values)."""
    for param in operator.xpath(".//spiffworkflow:parameter", namespaces=NS):
        label = f"parameter '{param.get('id')}'"
        if not param.get("id") or param.get("type") is None or param.get("value") is None:
            yield ElementError(task_id, f"{label} needs id, type and value attributes")
            continue
        yield from _code_errors(task_id, label, param.get("value"), "eval")


# --------------------------------------------------------------------------- DMN


def lint_dmn(root: etree._Element) -> list[ElementError]:
    """Check the Python expressions of every DMN decision table cell."""
    errors = []
    for node in root.iter(etree.Element):
        name = _local(node)
        if name == "inputExpression":
            errors += _code_errors(owner_id(node), "input expression", _dmn_text(node), "eval")
        elif name == "outputEntry":
            errors += _code_errors(owner_id(node), "output entry", _dmn_text(node), "eval")
        elif name == "inputEntry":
            errors += _input_entry_errors(node)
    return errors


def _dmn_text(node: etree._Element) -> str | None:
    """The text of a DMN cell's ``<text>`` child."""
    for child in node:
        if _local(child) == "text":
            return _text(child)
    return None


def _input_entry_errors(node: etree._Element) -> list[ElementError]:
    """Check an input entry the way SpiffWorkflow's DMN engine rewrites it before evaluation."""
    text = _dmn_text(node)
    if text is None or text.strip() == "-":
        return []
    text = text.strip()
    rewritten = re.sub(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)", "dmninputexpr", text)
    if "dmninputexpr" not in rewritten:
        candidate = f"(dmninputexpr) == ({text})"
        rewritten = candidate if not check_expression(candidate) else f"dmninputexpr {text}"
    return _code_errors(owner_id(node), "input entry", rewritten, "eval")
