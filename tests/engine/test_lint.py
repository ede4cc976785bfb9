"""Deploy-time refusal: unsafe XML, schema violations and GrantFlow's lint rules."""

from __future__ import annotations

import time

import pytest

from app.engine import compile_definition
from app.engine import parser as engine_parser
from app.errors import DefinitionError

from .support import KNOWN, compile_fixture, fixture_bytes


def refusal(files, **kwargs):
    """The DefinitionError raised for ``files`` (with the test catalogues)."""
    with pytest.raises(DefinitionError) as caught:
        compile_definition(files, **{**KNOWN, **kwargs})
    return caught.value


def messages_for(error, element):
    return [e.message for e in error.errors if e.element == element]


# --------------------------------------------------------------------------- unsafe files


@pytest.mark.parametrize("name", ["xxe.bpmn", "billion_laughs.bpmn"])
def test_doctype_and_entities_are_refused(name):
    error = refusal({name: fixture_bytes(name)})
    assert [(e.element, e.message) for e in error.errors] == [
        (None, f"{name}: DOCTYPE and ENTITY declarations are not allowed")
    ]


@pytest.mark.parametrize("name", ["xxe.bpmn", "billion_laughs.bpmn"])
def test_entities_are_never_resolved_even_past_the_text_check(name, monkeypatch):
    """With the byte-level check disabled, the parser still neither resolves nor accepts DTDs."""
    monkeypatch.setattr(engine_parser, "_DTD_MARKERS", engine_parser.re.compile(rb"(?!x)x"))
    started = time.perf_counter()
    error = refusal({name: fixture_bytes(name)})
    assert time.perf_counter() - started < 2
    [problem] = error.errors
    assert problem.element is None
    assert "DOCTYPE" in problem.message or "entit" in problem.message
    assert "root:" not in problem.message


def test_binary_garbage_is_refused():
    garbage = bytes(range(256)) * 4
    error = refusal({"garbage.bpmn": garbage})
    assert error.errors[0].element is None
    assert "not UTF-8" in error.errors[0].message


def test_empty_file_is_refused():
    error = refusal({"empty.bpmn": b""})
    assert [(e.element, e.message) for e in error.errors] == [(None, "empty.bpmn: the file is empty")]


def test_huge_file_is_refused_before_parsing():
    huge = fixture_bytes("routing.bpmn").replace(b"</bpmn:definitions>", b"<!--" + b"x" * (5 * 1024 * 1024) + b"-->\n</bpmn:definitions>")
    error = refusal({"huge.bpmn": huge})
    assert [(e.element, e.message) for e in error.errors] == [(None, "huge.bpmn: the file is larger than 5 MB")]


def test_malformed_xml_is_refused():
    error = refusal({"broken.bpmn": b"<bpmn:definitions xmlns:bpmn='x'><unclosed></bpmn:definitions>"})
    assert "not well-formed XML" in error.errors[0].message


def test_other_declared_encodings_are_refused():
    latin = fixture_bytes("routing.bpmn").replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    error = refusal({"latin.bpmn": latin})
    assert "only UTF-8 is accepted" in error.errors[0].message


def test_not_a_bpmn_document_is_refused():
    error = refusal({"note.bpmn": b"<note><to>you</to></note>"})
    assert error.errors[0].message == "note.bpmn: not a BPMN or DMN definitions document"


def test_no_files():
    error = refusal({})
    assert error.errors[0].message == "no BPMN file was uploaded"


# --------------------------------------------------------------------------- schema and SpiffWorkflow


def test_xsd_violations_name_each_element():
    error = refusal({"lint_xsd.bpmn": fixture_bytes("lint_xsd.bpmn")})
    assert any("colour" in m for m in messages_for(error, "painted_task"))
    assert any("priority" in m for m in messages_for(error, "flow_start"))


def test_spiffworkflow_parse_errors_become_element_errors():
    error = refusal({"spiff_error.bpmn": fixture_bytes("spiff_error.bpmn")})
    assert any("Multiple outgoing flows" in m for m in messages_for(error, "forked_task"))


def test_missing_decision_table_names_the_business_rule_task():
    error = refusal({"dmn_process.bpmn": fixture_bytes("dmn_process.bpmn")})
    assert any("level_decision" in m for m in messages_for(error, "decide_level"))


def test_call_activity_to_a_missing_process():
    xml = fixture_bytes("loop_subprocess.bpmn").replace(b'calledElement="called_check"', b'calledElement="nowhere"')
    error = refusal({"loop_subprocess.bpmn": xml}, process_key="loop_subprocess")
    assert any("'nowhere'" in m for m in messages_for(error, "call_check"))


# --------------------------------------------------------------------------- process choice


def test_no_executable_process():
    xml = fixture_bytes("routing.bpmn").replace(b'isExecutable="true"', b'isExecutable="false"')
    error = refusal({"routing.bpmn": xml})
    assert [e.message for e in error.errors] == ['no executable process (isExecutable="true") was found']


def test_several_processes_need_a_process_key():
    files = {"routing.bpmn": fixture_bytes("routing.bpmn"), "service.bpmn": fixture_bytes("service.bpmn")}
    error = refusal(files)
    assert "choose one with process_key" in error.errors[0].message
    assert compile_definition(files, process_key="service", **KNOWN).process_key == "service"


def test_unknown_process_key():
    error = refusal({"routing.bpmn": fixture_bytes("routing.bpmn")}, process_key="elsewhere")
    assert error.errors[0].message == "no executable process with id 'elsewhere'"


def test_called_processes_do_not_count_as_candidates():
    assert compile_fixture("loop_subprocess.bpmn").process_key == "loop_subprocess"


# --------------------------------------------------------------------------- lint rules


@pytest.fixture(scope="module")
def problems():
    with pytest.raises(DefinitionError) as caught:
        compile_fixture("lint_problems.bpmn")
    return caught.value


@pytest.mark.parametrize(
    ("element", "expected"),
    [
        ("complex_gw", "bpmn:complexGateway is not supported"),
        ("task_no_role", "user task has no 'role' (or 'roleExpression') property"),
        ("task_no_form", "user task has no 'formKey' property"),
        ("task_unknown", "unknown role 'wizard'"),
        ("task_unknown", "unknown form 'wizard_form'"),
        ("task_unknown", "unknown article 'Art. 77'"),
        ("task_unknown", "'due' must be an ISO 8601 duration such as P5D, got '5 days'"),
        ("task_bad_expressions", "roleExpression: call to '__import__' is not allowed"),
        ("task_bad_expressions", "orgExpression: call to 'open' is not allowed"),
        ("task_bad_loop", "loopCardinality: attribute '__class__' is not allowed (attributes may not start with '_')"),
        ("lint_problems", "unknown article 'Art. 99'"),
        ("start", "unknown form 'nope_form'"),
        ("start", "unknown role 'ghost' in startRoles"),
        ("flow_a", "sequence flow leaving exclusiveGateway 'gw_no_conditions' has no condition and is not the gateway's default flow"),
        ("flow_b", "sequence flow leaving exclusiveGateway 'gw_no_conditions' has no condition and is not the gateway's default flow"),
        ("svc_unknown", "unknown service action 'launch_rockets'"),
        ("svc_unknown", "parameter 'target' needs id, type and value attributes"),
        ("svc_missing", "service task has no spiffworkflow:serviceTaskOperator"),
        ("timer_unquoted", 'timer timeDuration is a Python expression: quote it, e.g. "PT1H"'),
        ("script_empty", "script task has no script"),
    ],
)
def test_lint_rule(problems, element, expected):
    assert expected in messages_for(problems, element)


def test_all_problems_are_reported_at_once(problems):
    elements = {e.element for e in problems.errors}
    assert len(elements) >= 14
    assert problems.status == 422


def test_catalogue_checks_are_skipped_without_catalogues():
    error = refusal({"lint_problems.bpmn": fixture_bytes("lint_problems.bpmn")},
                    known_roles=None, known_forms=None, known_articles=None, known_actions=None)
    text = " ".join(e.message for e in error.errors)
    assert "unknown" not in text
    assert "has no 'formKey' property" in text  # structural rules still apply


def test_a_default_flow_needs_no_condition():
    info = compile_fixture("routing.bpmn")
    assert set(info.tasks) == {"board_review", "manager_review"}


@pytest.mark.parametrize(
    ("old", "new", "element", "expected"),
    [
        (b"amount &gt;= 10000", b"amount &gt;=", "flow_large", "condition (flow from 'by_amount'): syntax error"),
        (b'value="decision_form"', b'value="decision_form"/><spiffworkflow:property name="due" value="P"', "board_review", "'due' must be an ISO 8601 duration"),
    ],
)
def test_single_rule_variants(old, new, element, expected):
    xml = fixture_bytes("routing.bpmn").replace(old, new, 1)
    error = refusal({"routing.bpmn": xml})
    assert any(expected in m for m in messages_for(error, element))


def test_dmn_cells_are_checked():
    dmn = fixture_bytes("level.dmn").replace(b'"director"', b"__import__('os').getcwd()")
    error = refusal({"dmn_process.bpmn": fixture_bytes("dmn_process.bpmn"), "level.dmn": dmn})
    assert any("__import__" in m for m in messages_for(error, "rule_medium_out"))


def test_dmn_input_entries_are_checked_as_rewritten_by_the_engine():
    dmn = fixture_bytes("level.dmn").replace(b"&lt; 1000", b"&lt; ().__class__")
    error = refusal({"dmn_process.bpmn": fixture_bytes("dmn_process.bpmn"), "level.dmn": dmn})
    assert any("__class__" in m for m in messages_for(error, "rule_small_in"))
