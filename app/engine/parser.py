"""Deploying a process definition: safe XML loading, linting, SpiffWorkflow parsing.

:func:`compile_definition` is the only entry point.  It never raises anything but
:class:`DefinitionError` for bad input, with one :class:`ElementError` per problem.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.specs.defaults import UserTask

from app.engine.lint import BPMN_NS, LintContext, lint_bpmn, lint_dmn, owner_id, properties
from app.engine.meta import split_list, task_meta
from app.engine.serializer import spec_to_json
from app.engine.types import ProcessInfo, TaskMeta
from app.errors import DefinitionError, ElementError

MAX_FILE_BYTES = 5 * 1024 * 1024
_DTD_MARKERS = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_XML_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_VALIDATION_LOCK = threading.Lock()


class _Refused(Exception):
    """A file refused before or while parsing; the message is shown to the uploader."""


@dataclass
class _Documents:
    """The parsed input files, split by kind, and the problems found so far."""

    bpmn: list[tuple[str, etree._ElementTree]] = field(default_factory=list)
    dmn: list[tuple[str, etree._ElementTree]] = field(default_factory=list)
    errors: list[ElementError] = field(default_factory=list)


def compile_definition(
    files: dict[str, bytes],
    *,
    process_key: str | None = None,
    known_roles: set[str] | None = None,
    known_forms: set[str] | None = None,
    known_articles: set[str] | None = None,
    known_actions: set[str] | None = None,
) -> ProcessInfo:
    """Parse, lint and compile BPMN/DMN files (name -> content) into a deployable ProcessInfo.

    ``process_key`` selects the executable process when the files hold several top-level
    ones.  The ``known_*`` catalogues are checked when given.  Raises DefinitionError listing
    every problem found (unsafe or malformed XML, XSD violations, lint findings, SpiffWorkflow
    parse errors).
    """
    try:
        return _compile(files, process_key, LintContext(known_roles, known_forms, known_articles, known_actions))
    except DefinitionError:
        raise
    except Exception as exc:  # last resort: bad input must never become a server error
        raise DefinitionError("The process definition is invalid", [ElementError(None, f"cannot be processed: {exc!r}")]) from exc


def _compile(files: dict[str, bytes], process_key: str | None, ctx: LintContext) -> ProcessInfo:
    """Body of :func:`compile_definition`; raises DefinitionError."""
    docs = _load_documents(files)
    for name, tree in docs.bpmn:
        docs.errors += _xsd_errors(name, tree, VALIDATOR)
        docs.errors += lint_bpmn(tree.getroot(), ctx)
    for name, tree in docs.dmn:
        docs.errors += _dmn_schema_errors(name, tree)
        docs.errors += lint_dmn(tree.getroot())
    key = _choose_process(docs, process_key)
    _raise_if(docs.errors)
    assert key is not None  # _choose_process reported an error otherwise
    return _build(docs, key)


def _raise_if(errors: list[ElementError]) -> None:
    """Raise DefinitionError when ``errors`` is not empty (duplicates removed)."""
    if errors:
        unique = list(dict.fromkeys(errors))
        raise DefinitionError(f"The process definition has {len(unique)} problem(s)", unique)


# --------------------------------------------------------------------------- loading


def _load_documents(files: dict[str, bytes]) -> _Documents:
    """Load every file safely; refused files become file-level ElementErrors."""
    docs = _Documents()
    if not isinstance(files, dict) or not files:
        docs.errors.append(ElementError(None, "no BPMN file was uploaded"))
        return docs
    for name, content in files.items():
        try:
            tree = _safe_parse(name, content)
        except _Refused as exc:
            docs.errors.append(ElementError(None, f"{name}: {exc}"))
            continue
        kind = _document_kind(tree)
        if kind is None:
            docs.errors.append(ElementError(None, f"{name}: not a BPMN or DMN definitions document"))
        else:
            getattr(docs, kind).append((name, tree))
    if not docs.bpmn and not docs.errors:
        docs.errors.append(ElementError(None, "no BPMN file was uploaded"))
    return docs


def _safe_parse(name: str, content: Any) -> etree._ElementTree:
    """Parse UTF-8 XML without DTDs, entities or network access; raises _Refused."""
    if isinstance(content, str):
        content = content.encode("utf-8")
    if not isinstance(content, bytes | bytearray):
        raise _Refused("content must be bytes")
    content = bytes(content)
    if not content.strip():
        raise _Refused("the file is empty")
    if len(content) > MAX_FILE_BYTES:
        raise _Refused(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    _check_utf8(content)
    if _DTD_MARKERS.search(content):
        raise _Refused("DOCTYPE and ENTITY declarations are not allowed")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_blank_text=False,
    )
    try:
        tree = etree.ElementTree(etree.fromstring(content, parser))
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise _Refused(f"not well-formed XML: {exc}") from exc
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _Refused("DOCTYPE and ENTITY declarations are not allowed")
    if any(isinstance(node, etree._Entity) for node in tree.iter()):
        raise _Refused("entity references are not allowed")
    return tree


def _check_utf8(content: bytes) -> None:
    """Refuse content that is not UTF-8 or declares another encoding."""
    try:
        content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Refused("the file is not UTF-8 text") from exc
    if b"\x00" in content:
        raise _Refused("the file is not UTF-8 text")
    declared = _XML_DECL_ENCODING.match(content)
    if declared and declared.group(1).lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise _Refused(f"the file declares encoding {declared.group(1).decode()}; only UTF-8 is accepted")


def _document_kind(tree: etree._ElementTree) -> str | None:
    """``"bpmn"`` or ``"dmn"`` from the root element's namespace (the file name is not trusted)."""
    root = tree.getroot()
    qname = etree.QName(root)
    if qname.localname != "definitions":
        return None
    if qname.namespace == BPMN_NS:
        return "bpmn"
    if qname.namespace in DMN_SCHEMAS or "dmn" in (qname.namespace or "").lower():
        return "dmn"
    return None


# --------------------------------------------------------------------------- schemas


def _xsd_errors(name: str, tree: etree._ElementTree, validator: BpmnValidator) -> list[ElementError]:
    """All XSD violations of ``tree``, each naming the element on the reported line."""
    with _VALIDATION_LOCK:
        try:
            validator.preprocess(tree)
            valid = validator.validator.validate(tree)
        except etree.LxmlError as exc:
            return [ElementError(None, f"{name}: schema validation failed: {exc}")]
        if valid:
            return []
        entries = [(entry.line, entry.message) for entry in validator.validator.error_log]
    ids_by_line = _ids_by_line(tree)
    return [
        ElementError(ids_by_line.get(line), f"{name} line {line}: {message.replace(f'{{{BPMN_NS}}}', 'bpmn:')}")
        for line, message in entries
    ]


def _ids_by_line(tree: etree._ElementTree) -> dict[int, str | None]:
    """Map each source line to the id owning the first element starting on that line."""
    ids: dict[int, str | None] = {}
    for node in tree.iter(etree.Element):
        if node.sourceline is not None and node.sourceline not in ids:
            ids[node.sourceline] = owner_id(node)
    return ids


@lru_cache(maxsize=8)
def _dmn_validator(schema_path: str) -> BpmnValidator:
    """A cached validator for one DMN schema version."""
    return BpmnValidator(schema_path)


def _dmn_schema_errors(name: str, tree: etree._ElementTree) -> list[ElementError]:
    """XSD violations of a DMN document (refusing unknown DMN versions)."""
    namespace = etree.QName(tree.getroot()).namespace
    schema = DMN_SCHEMAS.get(namespace)
    if schema is None:
        return [ElementError(None, f"{name}: unsupported DMN namespace {namespace}")]
    return _xsd_errors(name, tree, _dmn_validator(schema))


# --------------------------------------------------------------------------- process choice


def _choose_process(docs: _Documents, process_key: str | None) -> str | None:
    """Pick the process to deploy; appends an error and returns None when that is impossible.

    Without ``process_key`` the single executable process that no call activity calls is
    chosen.
    """
    if not docs.bpmn:
        return None  # the reason is already reported
    executable = _executable_processes(docs)
    called = _check_call_activities(docs, executable)
    if process_key is not None:
        if process_key in executable:
            return process_key
        docs.errors.append(ElementError(None, f"no executable process with id '{process_key}'"))
        return None
    if not executable:
        docs.errors.append(ElementError(None, "no executable process (isExecutable=\"true\") was found"))
        return None
    roots = [pid for pid in executable if pid not in called] or executable
    if len(roots) > 1:
        docs.errors.append(ElementError(None, f"several executable processes ({', '.join(roots)}); choose one with process_key"))
        return None
    return roots[0]


def _executable_processes(docs: _Documents) -> list[str]:
    """Ids of the executable processes (SpiffWorkflow treats a missing isExecutable as true)."""
    return [
        process.get("id")
        for _, tree in docs.bpmn
        for process in tree.getroot().iter(f"{{{BPMN_NS}}}process")
        if process.get("isExecutable", "true") == "true" and process.get("id")
    ]


def _check_call_activities(docs: _Documents, executable: list[str]) -> set[str]:
    """Report call activities whose process is not uploaded; return the called process ids."""
    called = set()
    for _, tree in docs.bpmn:
        for node in tree.getroot().iter(f"{{{BPMN_NS}}}callActivity"):
            target = node.get("calledElement")
            called.add(target)
            if target not in executable:
                docs.errors.append(ElementError(
                    node.get("id"), f"calls process '{target}', which is not an uploaded executable process"
                ))
    return called


# --------------------------------------------------------------------------- SpiffWorkflow


def _build(docs: _Documents, key: str) -> ProcessInfo:
    """Parse with SpiffWorkflow and assemble the ProcessInfo; raises DefinitionError."""
    try:
        with _VALIDATION_LOCK:  # the shared XSD validator keeps its error log on the instance
            parser = SpiffBpmnParser(validator=VALIDATOR)
            for name, tree in docs.dmn:
                parser.add_dmn_xml(tree.getroot(), filename=name)
            for name, tree in docs.bpmn:
                parser.add_bpmn_xml(tree, filename=name)
            spec = parser.get_spec(key)
            subprocess_specs = parser.get_subprocess_specs(key)
        spec_json = spec_to_json(spec, subprocess_specs)
    except ValidationException as exc:
        raise DefinitionError("The process definition is invalid", [ElementError(exc.id or None, _describe(exc))]) from exc
    except DefinitionError:
        raise
    except Exception as exc:  # SpiffWorkflow raises many kinds of errors on odd input
        raise DefinitionError("The process definition is invalid", [ElementError(None, f"cannot be parsed: {exc!r}")]) from exc
    process = _process_node(docs, key)
    start_props = _start_properties(process)
    return ProcessInfo(
        process_key=key,
        name=process.get("name") or key,
        spec_json=spec_json,
        start_form_key=start_props.get("formKey") or None,
        start_roles=split_list(start_props.get("startRoles")),
        articles=split_list(properties(process).get("articles")),
        tasks=_user_task_meta([spec, *subprocess_specs.values()]),
    )


def _describe(exc: ValidationException) -> str:
    """A one-line description of a SpiffWorkflow ValidationException."""
    where = f" ({exc.file_name})" if getattr(exc, "file_name", "") else ""
    return " ".join(f"{exc}{where}".replace(". . ", ". ").split())


def _process_node(docs: _Documents, key: str) -> etree._Element:
    """The ``bpmn:process`` element with id ``key``."""
    for _, tree in docs.bpmn:
        for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
            if process.get("id") == key:
                return process
    raise DefinitionError("The process definition is invalid", [ElementError(None, f"process '{key}' not found")])


def _start_properties(process: etree._Element) -> dict[str, str]:
    """Properties of the process's first start event that has any (top level only)."""
    for start in process.findall(f"{{{BPMN_NS}}}startEvent"):
        props = properties(start)
        if props:
            return props
    return {}


def _user_task_meta(specs: list[Any]) -> dict[str, TaskMeta]:
    """TaskMeta for every user task of the process and its subprocesses, by BPMN id."""
    metas: dict[str, TaskMeta] = {}
    for spec in specs:
        if spec is None:
            continue
        for task_spec in spec.task_specs.values():
            if isinstance(task_spec, UserTask) and task_spec.bpmn_id:
                metas[task_spec.bpmn_id] = task_meta(task_spec)
    return metas
