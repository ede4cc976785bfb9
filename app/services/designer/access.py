"""Who may use the designer: process administrators only."""

from __future__ import annotations

from flask_babel import gettext as _

from app.errors import ForbiddenError
from app.models import User

DESIGNER_ROLE = "admin"


def require_admin(user: User | None) -> None:
    """Raise ForbiddenError unless ``user`` holds the ``admin`` role."""
    if user is None or DESIGNER_ROLE not in user.roles:
        raise ForbiddenError(_("Only process administrators may use the designer."))
