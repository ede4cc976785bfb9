"""What changed between two versions of a process, computed from their BPMN/DMN XML.

Elements are matched by id.  For an element present in both versions the comparison covers
what the engine runs (name, kind, GrantFlow properties such as ``role`` / ``formKey`` /
``articles`` / ``due``, conditions, default flows, scripts, timers, service-task operators,
sequence-flow connections, lanes, other attributes and child definitions), never the
diagram layout: a shape or edge that only moved on the canvas is reported in ``moved``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lxml import etree
from sqlalchemy.orm import Session

from app.models import User
from app.services import definitions
from app.services.designer.access import require_admin
from app.services.designer.versions import get_definition

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"

# Containers whose children are flow elements.
_CONTAINERS = frozenset({"process", "subProcess", "transaction", "adHocSubProcess"})
# Children of a container that are not flow elements of their own.
_NOT_ELEMENTS = frozenset({"laneSet", "extensionElements", "documentation", "ioSpecification", "property",
                           "ioBinding", "auditing", "monitoring", "incoming", "outgoing"})
# Attributes compared under their own label, or not at all (layout, identity).
_ATTRIBUTE_LABELS = {"name": "name", "sourceRef": "source", "targetRef": "target",
                     "attachedToRef": "attachedTo", "default": "default"}
_IGNORED_ATTRIBUTES = frozenset({"id"})
# Child elements compared under their own label; ``incoming``/``outgoing`` come from the flows.
_CHILD_LABELS = {"conditionExpression": "condition", "script": "script", "documentation": "documentation",
                 "timerEventDefinition": "timer", "multiInstanceLoopCharacteristics": "multiInstance",
                 "standardLoopCharacteristics": "loop"}
_SKIPPED_CHILDREN = frozenset({"incoming", "outgoing", "extensionElements"})


@dataclass(frozen=True)
class ElementRef:
    id: str
    type: str  # the BPMN/DMN element name, e.g. "userTask", "sequenceFlow", "decision"
    name: str | None


@dataclass(frozen=True)
class ElementChange:
    id: str
    type: str
    name: str | None
    changes: list[str]  # e.g. ["name", "role", "formKey", "condition", "incoming/outgoing"]


@dataclass(frozen=True)
class VersionDiff:
    process_key: str
    from_version: int
    to_version: int
    added: list[ElementRef]
    removed: list[ElementRef]
    changed: list[ElementChange]
    moved: list[ElementRef]  # only the diagram layout changed


def diff(
    session: Session, user: User, process_key: str, from_version: int | None = None, to_version: int | None = None
) -> VersionDiff:
    """Compare two deployed versions of ``process_key`` (default: the newest with the one
    before it).

    Raises ForbiddenError for non-admins and NotFoundError when a version does not exist.
    """
    require_admin(user)
    new = definitions.latest(session, process_key) if to_version is None else get_definition(
        session, process_key, to_version)
    old = get_definition(session, process_key, max(new.version - 1, 1) if from_version is None else from_version)
    added, removed, changed, moved = diff_sources(old.source, new.source)
    return VersionDiff(process_key, old.version, new.version, added, removed, changed, moved)


def diff_sources(
    old: dict[str, str], new: dict[str, str]
) -> tuple[list[ElementRef], list[ElementRef], list[ElementChange], list[ElementRef]]:
    """(added, removed, changed, moved) between two deployments' files (name -> XML)."""
    before, after = _elements(old), _elements(new)
    added = [after[key].ref for key in after if key not in before]
    removed = [before[key].ref for key in before if key not in after]
    changed, moved = [], []
    for key in after:
        if key not in before:
            continue
        labels = _changes(before[key].signature, after[key].signature)
        if labels:
            ref = after[key].ref
            changed.append(ElementChange(ref.id, ref.type, ref.name, labels))
        elif before[key].layout != after[key].layout:
            moved.append(after[key].ref)
    return added, removed, changed, moved


# --------------------------------------------------------------------------- extraction


@dataclass
class _Element:
    ref: ElementRef
    signature: dict[str, Any]
    layout: Any = None


def _elements(files: dict[str, str]) -> dict[str, _Element]:
    """Every process element (and DMN decision) of the deployment, by id."""
    found: dict[str, _Element] = {}
    for _name, xml in sorted(files.items()):
        root = _parse(xml)
        if root is None:
            continue
        if etree.QName(root).namespace == BPMN_NS:
            _collect_bpmn(root, found)
        else:
            _collect_dmn(root, found)
    return found


def _parse(xml: str) -> etree._Element | None:
    """Parse stored XML (already checked at deploy) without DTDs, entities or network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(xml.encode("utf-8"), parser)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _local(node: Any) -> str:
    return etree.QName(node).localname if isinstance(node.tag, str) else ""


def _collect_bpmn(root: etree._Element, found: dict[str, _Element]) -> None:
    flows = root.iter(f"{{{BPMN_NS}}}sequenceFlow")
    connections: dict[str, tuple[set[str], set[str]]] = {}
    for flow in flows:
        connections.setdefault(flow.get("targetRef", ""), (set(), set()))[0].add(flow.get("id", ""))
        connections.setdefault(flow.get("sourceRef", ""), (set(), set()))[1].add(flow.get("id", ""))
    lanes = {ref.text.strip(): lane.get("id", "")
             for lane in root.iter(f"{{{BPMN_NS}}}lane")
             for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef") if ref.text}
    layout = _layout(root)
    for process in root.iter(f"{{{BPMN_NS}}}process"):
        for node in _process_elements(process):
            element_id = node.get("id")
            if not element_id or element_id in found:
                continue
            signature = _signature(node)
            if _local(node) not in ("sequenceFlow", "lane", "process"):
                incoming, outgoing = connections.get(element_id, (set(), set()))
                signature["incoming/outgoing"] = (sorted(incoming), sorted(outgoing))
                signature["lane"] = lanes.get(element_id)
            found[element_id] = _Element(ElementRef(element_id, _local(node), node.get("name")), signature,
                                         layout.get(element_id))


def _process_elements(process: etree._Element) -> Iterable[etree._Element]:
    """The process itself, its lanes and its flow elements (inside sub-processes too)."""
    yield process
    yield from process.iter(f"{{{BPMN_NS}}}lane")
    stack = [process]
    while stack:
        container = stack.pop()
        for child in container:
            name = _local(child)
            if not name or name in _NOT_ELEMENTS or etree.QName(child).namespace != BPMN_NS:
                continue
            yield child
            if name in _CONTAINERS:
                stack.append(child)


def _signature(node: etree._Element) -> dict[str, Any]:
    """What the engine sees of one element, by change label."""
    kind = _local(node)
    signature: dict[str, Any] = {"type": kind}
    for attribute, value in node.attrib.items():
        local = etree.QName(attribute).localname
        if local not in _IGNORED_ATTRIBUTES:
            signature[_ATTRIBUTE_LABELS.get(local, local)] = value
    for child in node:
        name = _local(child)
        if not name or name in _SKIPPED_CHILDREN or name == "flowNodeRef":
            continue
        if kind in _CONTAINERS and (name == "laneSet" or child.get("id") and name not in _NOT_ELEMENTS):
            continue  # flow elements and lanes of a (sub-)process are compared on their own
        label = _CHILD_LABELS.get(name) or ("event" if name.endswith("EventDefinition") else name)
        signature.setdefault(label, []).append(_canonical(child))
    extensions = node.find(f"{{{BPMN_NS}}}extensionElements")
    if extensions is not None:
        for extension in extensions:
            name = _local(extension)
            if name == "properties" and etree.QName(extension).namespace == SPIFF_NS:
                for prop in extension.iter(f"{{{SPIFF_NS}}}property"):
                    if prop.get("name"):
                        signature[prop.get("name")] = prop.get("value")
            elif name:
                signature.setdefault(name, []).append(_canonical(extension))
    return signature


def _canonical(node: etree._Element) -> Any:
    """A comparable form of an XML subtree that ignores ids, whitespace and comments."""
    if not isinstance(node.tag, str):
        return None
    attributes = sorted((key, value) for key, value in node.attrib.items() if etree.QName(key).localname != "id")
    children = [item for item in (_canonical(child) for child in node) if item is not None]
    return (node.tag, tuple(attributes), (node.text or "").strip(), tuple(children))


def _changes(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """The labels whose values differ, in a stable, readable order."""
    labels = [label for label in after if before.get(label) != after.get(label)]
    labels += [label for label in before if label not in after]
    return labels


def _layout(root: etree._Element) -> dict[str, Any]:
    """Each element's shape bounds or edge waypoints (with labels), by element id."""
    layout: dict[str, Any] = {}
    for tag in ("BPMNShape", "BPMNEdge"):
        for item in root.iter(f"{{{BPMNDI_NS}}}{tag}"):
            element = item.get("bpmnElement")
            if element:
                layout[element] = _canonical(item)
    return layout


def _collect_dmn(root: etree._Element, found: dict[str, _Element]) -> None:
    """DMN decisions: their name and their table (or literal expression) as a whole."""
    for decision in root:
        if _local(decision) != "decision" or not decision.get("id") or decision.get("id") in found:
            continue
        signature: dict[str, Any] = {"type": "decision", "name": decision.get("name")}
        for child in decision:
            name = _local(child)
            if name:
                signature["table" if name in ("decisionTable", "literalExpression") else name] = _canonical(child)
        found[decision.get("id", "")] = _Element(ElementRef(decision.get("id", ""), "decision", decision.get("name")),
                                                 signature)
