"""The restricted script environment: static checks, normal scripts, defence in depth."""

from __future__ import annotations

import pytest

from app.engine import check_expression, compile_definition, evaluate, sandbox, start_instance
from app.errors import EngineError

from .support import KNOWN, spec_json_without_lint, with_expression


@pytest.mark.parametrize(
    "source",
    [
        "amount >= 1000 and level == 'board'",
        "[d + '_heads' for d in departments]",
        "f'{name}: {amount:.2f}'",
        "{k: v for k, v in totals.items() if v}",
        "sorted(set(items))[0] if items else None",
        "'PT1H' if urgent else 'P5D'",
    ],
)
def test_check_expression_accepts_ordinary_expressions(source):
    assert check_expression(source, "eval") == []


@pytest.mark.parametrize(
    ("source", "mode", "expected"),
    [
        ("amount >=", "eval", "syntax error"),
        ("import os", "exec", "import is not allowed"),
        ("from os import path", "exec", "import is not allowed"),
        ("_secret + 1", "eval", "name '_secret'"),
        ("data._private", "eval", "attribute '_private'"),
        ("x.__class__", "eval", "attribute '__class__'"),
        ("d['__class__']", "eval", "string constant '__class__'"),
        ("lambda _x: _x", "eval", "argument '_x'"),
        ("f(_k=1)", "eval", "keyword '_k'"),
        ("len('x' * 10) " + " " * 10_000, "eval", "longer than 10,000 characters"),
        ("   ", "eval", "empty"),
        ("x = 1", "eval", "syntax error"),
    ],
)
def test_check_expression_refusals(source, mode, expected):
    problems = check_expression(source, mode)
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize("name", sorted(sandbox.FORBIDDEN_CALLS - {"__import__"}))
def test_check_expression_refuses_forbidden_calls(name):
    assert f"call to '{name}' is not allowed" in check_expression(f"{name}(x)", "eval")


@pytest.mark.parametrize(
    ("source", "expected"),
    [("task.f_globals", "f_globals"), ("async def f():\n    pass", "AsyncFunctionDef")],
)
def test_check_expression_reports_restrictedpython_errors(source, expected):
    problems = check_expression(source, "exec")
    assert any(expected in problem for problem in problems), problems


NORMAL_SCRIPT = """
squares = [n * n for n in numbers if n % 2 == 0]
totals['extra'] = sum(squares)
counter += 5
label = f"{name.title()} has {len(numbers)} numbers"
pairs = {k: v for k, v in zip(['a', 'b'], [1, 2])}
for index, (left, right) in enumerate([(1, 2), (3, 4)]):
    counter += left * right
first, *rest = numbers
def double(value):
    return value * 2
doubled = double(counter)
"""


def test_normal_scripts_still_work_in_a_deployed_process():
    xml = with_expression("attack_script.bpmn", NORMAL_SCRIPT)
    info = compile_definition({"normal.bpmn": xml}, **KNOWN)

    result = start_instance(
        info.spec_json,
        {"direct": True, "numbers": [1, 2, 3, 4], "totals": {}, "counter": 1, "name": "ada"},
    )

    assert result.completed
    data = result.data
    assert data["squares"] == [4, 16]
    assert data["totals"] == {"extra": 20}
    assert data["counter"] == 1 + 5 + 2 + 12
    assert data["label"] == "Ada has 4 numbers"
    assert data["pairs"] == {"a": 1, "b": 2}
    assert data["first"] == 1 and data["rest"] == [2, 3, 4]
    assert data["doubled"] == 40
    assert "double" not in data  # functions are not kept in task data


def test_evaluate_runs_restricted_expressions():
    assert evaluate("department + '_heads'", {"department": "finance"}) == "finance_heads"
    assert evaluate("max(scores) if scores else 0", {"scores": [3, 9, 4]}) == 9


@pytest.mark.parametrize("expression", ["__import__('os')", "open('/etc/passwd')", "missing + 1", "1/0"])
def test_evaluate_failures_are_engine_errors(expression):
    with pytest.raises(EngineError):
        evaluate(expression, {})


def test_task_data_cannot_replace_the_guards():
    data = {"__builtins__": {"len": lambda _: 99}, "_getattr_": getattr, "items": [1, 2]}
    assert sandbox.RestrictedEnvironment().evaluate("len(items)", data) == 2


def test_str_format_is_blocked_at_run_time():
    with pytest.raises(EngineError):
        evaluate("'{0.__class__}'.format(x)", {"x": 1})


@pytest.mark.parametrize(
    "source",
    [
        "getattr(x, '__cla' + 'ss__')",
        "open('{m}', 'w')",
        "().__class__.__base__.__subclasses__()",
        "__import__('os').system('touch {m}')",
    ],
)
def test_restrictedpython_blocks_attacks_even_without_the_static_check(source, monkeypatch, tmp_path):
    """Defence in depth: with the policy check disabled, RestrictedPython and the guards still hold."""
    marker = tmp_path / "pwned"
    monkeypatch.setattr(sandbox, "check_expression", lambda *_args: [])
    sandbox.compile_source.cache_clear()
    try:
        xml = with_expression("attack_script.bpmn", "x = " + source.format(m=marker))
        spec_json = spec_json_without_lint(xml, "attack_script_process")
        with pytest.raises(EngineError) as caught:
            start_instance(spec_json, {"direct": True, "x": 1})
    finally:
        sandbox.compile_source.cache_clear()
    assert caught.value.element == "attack_script"
    assert not marker.exists()


def test_overlong_script_is_refused_at_run_time():
    xml = with_expression("attack_script.bpmn", "x = 1\n" * 2_000)
    spec_json = spec_json_without_lint(xml, "attack_script_process")
    with pytest.raises(EngineError, match="longer than"):
        start_instance(spec_json, {"direct": True})


def test_indented_code_from_xml_is_accepted_and_runs():
    """BPMN editors indent element text: scripts are dedented, expressions stripped."""
    script = "\n      count += 1\n      if count > 1:\n          total = count * 2\n    "
    info = compile_definition({"indented.bpmn": with_expression("attack_script.bpmn", script)}, **KNOWN)
    assert start_instance(info.spec_json, {"direct": True, "count": 1}).data["total"] == 4
    assert check_expression("\n   count < limit\n  ", "eval") == []
