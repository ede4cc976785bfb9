"""Restricted execution of BPMN scripts and expressions.

SpiffWorkflow runs every gateway condition, script task, timer expression, multi-instance
expression and DMN cell as Python through its script engine.  The default engine uses plain
``eval``/``exec`` and so runs arbitrary code (ENGINE-NOTES §3).  This module replaces it with
an environment that compiles with RestrictedPython, supplies only a small set of builtins and
guards attribute/item access, and refuses names and attributes starting with ``_``.

The script engine is not serialized by SpiffWorkflow: ``app.engine.runtime`` builds a new
:class:`RestrictedScriptEngine` for every run and attaches it after every load.
"""

from __future__ import annotations

import ast
import copy
import json
import operator
import textwrap
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from types import CodeType
from typing import Any, Literal

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_builtins
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safer_getattr,
)
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import TaskDataEnvironment

from app.errors import EngineError

Mode = Literal["eval", "exec"]
Action = Callable[[dict[str, Any], dict[str, Any]], Any]

MAX_SOURCE_LENGTH = 10_000

FORBIDDEN_CALLS = frozenset(
    {
        "open", "getattr", "setattr", "delattr", "eval", "exec", "compile", "globals",
        "locals", "vars", "input", "breakpoint", "help", "dir", "type", "object",
        "memoryview", "__import__", "print",
    }
)

_EXTRA_BUILTINS: dict[str, Any] = {
    "len": len, "min": min, "max": max, "sum": sum, "sorted": sorted, "any": any, "all": all,
    "abs": abs, "round": round, "range": range, "enumerate": enumerate, "zip": zip,
    "dict": dict, "list": list, "set": set, "tuple": tuple, "str": str, "int": int,
    "float": float, "bool": bool, "isinstance": isinstance,
}

# Builtins the restricted code never needs (class statements, attribute writes by name).
_DROPPED_BUILTINS = ("__build_class__", "setattr", "delattr")

_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv,
    "//=": operator.ifloordiv, "%=": operator.imod, "**=": operator.ipow,
    "<<=": operator.ilshift, ">>=": operator.irshift, "&=": operator.iand,
    "|=": operator.ior, "^=": operator.ixor,
}


class ScriptRejected(Exception):
    """A script or expression that may not run (too long, not Python, or not allowed)."""


# --------------------------------------------------------------------------- static check


def check_expression(source: str, mode: Mode = "eval") -> list[str]:
    """Check a script (``mode="exec"``) or expression (``mode="eval"``) before deployment.

    Returns a list of human-readable problems, empty when the source is acceptable.  Refuses
    sources that are too long, do not parse, fail RestrictedPython compilation, import
    anything, use a name or attribute starting with ``_``, contain a string constant starting
    with ``__`` or call one of :data:`FORBIDDEN_CALLS`.  Never raises.
    """
    if not isinstance(source, str):
        return ["the expression is not text"]
    if len(source) > MAX_SOURCE_LENGTH:
        return [f"longer than {MAX_SOURCE_LENGTH:,} characters"]
    if not source.strip():
        return ["the expression is empty"]
    source = normalize_source(source, mode)
    try:
        tree = ast.parse(source, mode=mode)
    except SyntaxError as exc:
        return [f"syntax error: {exc.msg} (line {exc.lineno})"]
    except (ValueError, MemoryError, RecursionError) as exc:
        return [f"cannot be parsed: {exc}"]
    problems = list(dict.fromkeys(_ast_problems(tree)))
    # RestrictedPython repeats most policy findings; ask it only about what is left.
    return problems or _restricted_compile_errors(source, mode)


def normalize_source(source: str, mode: Mode) -> str:
    """Remove the indentation BPMN XML adds around code: strip expressions, dedent scripts."""
    if mode == "eval":
        return source.strip()
    return textwrap.dedent(source).strip("\r\n")


def _restricted_compile_errors(source: str, mode: Mode) -> list[str]:
    """Return RestrictedPython's compile errors for ``source`` (never raises)."""
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(source, filename="<bpmn>")
    except (SyntaxError, ValueError, TypeError, RecursionError) as exc:
        return [f"cannot be compiled: {exc}"]
    return [str(error) for error in result.errors]


def _ast_problems(tree: ast.AST) -> Iterator[str]:
    """Yield the policy violations found anywhere in ``tree``."""
    for node in ast.walk(tree):
        problem = _node_problem(node)
        if problem is not None:
            yield problem


_NAMING_RULE = "(names may not start with '_')"


def _node_problem(node: ast.AST) -> str | None:
    """The policy violation of a single AST node, or None."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        return "import is not allowed"
    if isinstance(node, ast.Name) and node.id.startswith("_"):
        return f"name '{node.id}' is not allowed {_NAMING_RULE}"
    if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
        return f"attribute '{node.attr}' is not allowed (attributes may not start with '_')"
    if isinstance(node, ast.arg) and node.arg.startswith("_"):
        return f"argument '{node.arg}' is not allowed {_NAMING_RULE}"
    if isinstance(node, ast.keyword) and (node.arg or "").startswith("_"):
        return f"keyword '{node.arg}' is not allowed {_NAMING_RULE}"
    if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name.startswith("_"):
        return f"name '{node.name}' is not allowed {_NAMING_RULE}"
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("__"):
        return f"string constant {node.value[:40]!r} is not allowed (starts with '__')"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FORBIDDEN_CALLS:
        return f"call to '{node.func.id}' is not allowed"
    return None


# --------------------------------------------------------------------------- compilation


@lru_cache(maxsize=2048)
def compile_source(source: str, mode: Mode) -> CodeType:
    """Compile ``source`` with RestrictedPython after the static policy check (cached by source).

    Raises :class:`ScriptRejected` when :func:`check_expression` reports any problem.
    """
    if not isinstance(source, str):
        raise ScriptRejected(f"expected a script or expression, got {type(source).__name__}")
    problems = check_expression(source, mode)
    if problems:
        raise ScriptRejected("refused: " + "; ".join(problems))
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(normalize_source(source, mode), filename="<bpmn>")
    if result.code is None:  # pragma: no cover - check_expression already reports these
        raise ScriptRejected("refused: " + "; ".join(result.errors))
    return result.code


# --------------------------------------------------------------------------- guards


def _guarded_getitem(container: Any, key: Any) -> Any:
    """``container[key]`` for restricted code (objects' internals are reached by attribute)."""
    return container[key]


def _guarded_getiter(iterable: Iterable[Any]) -> Iterable[Any]:
    """Iteration guard for restricted code: iteration itself is harmless."""
    return iterable


def _inplacevar(op: str, target: Any, value: Any) -> Any:
    """Implement ``target op= value`` for restricted code; raises ScriptRejected for unknown ops."""
    func = _INPLACE_OPERATORS.get(op)
    if func is None:
        raise ScriptRejected(f"operator {op!r} is not allowed")
    return func(target, value)


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call guard used by RestrictedPython for calls with ``*args``/``**kwargs``."""
    return func(*args, **kwargs)


def restricted_globals() -> dict[str, Any]:
    """Build the globals every restricted script sees: builtins plus RestrictedPython guards."""
    builtins = dict(safe_builtins)
    for name in _DROPPED_BUILTINS:
        builtins.pop(name, None)
    builtins.update(_EXTRA_BUILTINS)
    return {
        "__builtins__": builtins,
        "_getattr_": safer_getattr,
        "_getitem_": _guarded_getitem,
        "_getiter_": _guarded_getiter,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_apply_": _apply,
    }


# --------------------------------------------------------------------------- environment


class RestrictedEnvironment(TaskDataEnvironment):
    """A TaskDataEnvironment that evaluates and executes through RestrictedPython.

    The guard globals are applied after the task data, so data keys can never replace them.
    """

    def __init__(self) -> None:
        super().__init__(environment_globals=restricted_globals())

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: dict | None = None
    ) -> Any:
        """Evaluate ``expression`` over ``context``; raises ScriptRejected or the script's error."""
        code = compile_source(expression, "eval")
        scope = dict(context)
        scope.update(external_context or {})
        scope.update(self.globals)
        return eval(code, scope)  # noqa: S307 - RestrictedPython-compiled code, guarded globals

    def execute(
        self, script: str, context: dict[str, Any], external_context: dict | None = None
    ) -> bool:
        """Run ``script`` with ``context`` (the task data) as its globals, writing results back.

        Raises ScriptRejected, ValueError when task data uses a reserved name, or the
        script's own error.
        """
        code = compile_source(script, "exec")
        external = dict(external_context or {})
        clashes = (set(self.globals) | set(external)).intersection(context)
        if clashes:
            raise ValueError(f"task data uses reserved names: {sorted(clashes)}")
        context.update(external)
        context.update(self.globals)
        try:
            exec(code, context)  # noqa: S102 - RestrictedPython-compiled code, guarded globals
        finally:
            self._remove_globals_and_functions_from_context(context, external)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        """Refused: service calls go through :class:`RestrictedScriptEngine`, which looks the
        operator up in the host's action registry; an environment alone may call nothing."""
        raise EngineError("service tasks run only through the restricted script engine's action registry")


class RestrictedScriptEngine(PythonScriptEngine):
    """SpiffWorkflow script engine using :class:`RestrictedEnvironment` and host actions.

    ``actions`` maps a service task operator name to ``fn(params, task_data)``.  Exceptions
    raised by an action propagate unchanged and are remembered in :attr:`host_errors` so the
    runtime can tell them from SpiffWorkflow's own errors.
    """

    def __init__(self, actions: Mapping[str, Action] | None = None) -> None:
        super().__init__(environment=RestrictedEnvironment())
        self.actions: dict[str, Action] = dict(actions or {})
        self.host_errors: list[BaseException] = []
        self.current_task: Any = None

    def evaluate(self, task: Any, expression: str, external_context: dict | None = None) -> Any:
        """Evaluate for ``task``; failures raise WorkflowTaskException (see PythonScriptEngine)."""
        self.current_task = task
        return super().evaluate(task, expression, external_context)

    def execute(self, task: Any, script: str, external_context: dict | None = None) -> bool:
        """Execute for ``task``; failures raise WorkflowTaskException (see PythonScriptEngine)."""
        self.current_task = task
        return super().execute(task, script, external_context)

    def call_service(self, task: Any, **kwargs: Any) -> str:
        """Call the host action named by the service task and return its result as JSON text.

        Raises WorkflowTaskException for an unknown operator or a result that is not
        JSON-serializable; re-raises whatever the action raises.
        """
        self.current_task = task
        name = kwargs.get("operation_name")
        action = self.actions.get(name) if isinstance(name, str) else None
        if action is None:
            raise WorkflowTaskException(f"Unknown service operation '{name}'", task=task)
        params = {key: spec.get("value") for key, spec in kwargs.get("operation_params", {}).items()}
        try:
            result = action(params, copy.deepcopy(task.data))
        except BaseException as exc:
            self.host_errors.append(exc)
            raise
        try:
            return json.dumps(result)
        except (TypeError, ValueError) as exc:
            raise WorkflowTaskException(
                f"Service operation '{name}' returned a value that is not JSON-serializable",
                task=task,
                exception=exc,
            ) from exc
