"""A stand-in for document generation, so that W1, W2, W4 and W5 measure completing a step.

Three steps of the data_authorization route issue a document in the completing transaction
(compliance report, evaluation opinion, service agreement), and so do other processes'
steps. ``documents.generate`` (numbering, template, QR code, WeasyPrint layout, PAdES
signature, file, row and audit entry) then takes hundreds of milliseconds: W6 measures it on
its own, and W1 reports those steps with real documents beside its main figures. With the
stand-in installed, the ``issue_document`` action still runs (it builds the document's
context from the instance, its agreements and tasks) and gets back a placeholder document;
the bare-engine floor answers service tasks with a stub, so W1's ratio compares like with
like.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

_numbers = itertools.count(1)


@dataclass
class Placeholder:
    """What ``issue_document`` reads of a generated document."""

    id: int
    number: str
    verification_code: str


def _generate(session: Any, *, kind: str, **kwargs: Any) -> Placeholder:
    n = next(_numbers)
    return Placeholder(id=0, number=f"BENCH-{kind}-{n:06d}", verification_code=f"{n:010d}")


def install() -> Any:
    """Replace ``documents.generate``; returns what :func:`uninstall` needs to put it back."""
    from app.services import documents

    saved = documents.generate
    documents.generate = _generate  # type: ignore[assignment]
    return saved


def uninstall(saved: Any) -> None:
    from app.services import documents

    documents.generate = saved


@contextmanager
def installed() -> Iterator[None]:
    saved = install()
    try:
        yield
    finally:
        uninstall(saved)


def create_app() -> Any:
    """The WSGI app with the stand-in installed (gunicorn ``bench.nulldocs:create_app()``)."""
    from app import create_app as create

    install()
    return create()
