"""The documents package's domain error."""

from __future__ import annotations

from app.errors import GrantFlowError


class DocumentError(GrantFlowError):
    """A document could not be produced or read: bad context, a template or rendering
    failure, signing failure, or a stored file that is missing or damaged. The caller's step
    fails; nothing was stored."""

    status = 422
    code = "document_failed"
