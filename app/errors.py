"""Domain errors. Services and the engine raise these; app.web.errors maps them to responses."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field (``field`` is a JSON-pointer-like dotted path)."""

    field: str
    message: str


@dataclass(frozen=True)
class ElementError:
    """One problem with one BPMN/DMN element (``element`` is its id, or None for the file)."""

    element: str | None
    message: str


class GrantFlowError(Exception):
    """Base of every domain error."""

    status = 400
    code = "error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message


class NotFoundError(GrantFlowError):
    status = 404
    code = "not_found"


class ForbiddenError(GrantFlowError):
    status = 403
    code = "forbidden"


class AuthenticationError(GrantFlowError):
    status = 401
    code = "unauthenticated"


class ConflictError(GrantFlowError):
    """The thing changed under the caller: a task already completed, a stale version."""

    status = 409
    code = "conflict"


class ValidationError(GrantFlowError):
    """Input that does not satisfy its schema; ``errors`` names each field."""

    status = 422
    code = "validation_failed"

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])


class DefinitionError(GrantFlowError):
    """A BPMN/DMN deployment that is refused; ``errors`` names each element."""

    status = 422
    code = "invalid_definition"

    def __init__(self, message: str, errors: list[ElementError] | None = None) -> None:
        super().__init__(message)
        self.errors = list(errors or [])


class EngineError(GrantFlowError):
    """The workflow could not run: a failing expression, a blocked script, a stuck instance."""

    status = 422
    code = "engine_error"

    def __init__(self, message: str, element: str | None = None) -> None:
        super().__init__(message)
        self.element = element


class TaskNotReadyError(ConflictError):
    """The task is not (or no longer) waiting for a person."""

    code = "task_not_ready"
