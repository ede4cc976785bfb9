"""Comments on an instance or on one of its steps. Whoever may see the instance may read
and add them; each one added is an audit entry. Comments are never edited or deleted."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.errors import FieldError, ValidationError
from app.models import Comment, HumanTask, User
from app.models.collaboration import COMMENT_MAX_LENGTH
from app.services import audit, processes
from app.services.clock import clock

# Control characters other than tab, newline and carriage return (NUL cannot even be stored
# in a PostgreSQL text column).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def for_instance(session: Session, user: User, instance_id: int) -> list[Comment]:
    """The instance's comments, oldest first (those on its steps included).
    Raises NotFoundError when the user may not see the instance."""
    instance = processes.get_instance(session, user, instance_id)
    return list(session.execute(
        select(Comment).where(Comment.instance_id == instance.id).order_by(Comment.created_at, Comment.id)
    ).scalars())


def add(session: Session, user: User, instance_id: int, body: str, *, task_id: str | None = None) -> Comment:
    """Add ``user``'s comment to the instance, or to its step ``task_id``, with an audit
    entry ("comment.added"), in the caller's transaction.

    Raises NotFoundError (the instance is not visible to the user), ValidationError (an
    empty or too long body, control characters, a task that is not one of the instance's)."""
    instance = processes.get_instance(session, user, instance_id)
    text = clean_body(body)
    if task_id:
        task = session.get(HumanTask, str(task_id)[:36])
        if task is None or task.instance_id != instance.id:
            raise ValidationError(_("The comment could not be saved."),
                                  [FieldError("task_id", _("This step is not part of the case."))])
    comment = Comment(instance_id=instance.id, task_id=task_id or None, author_id=user.id, body=text,
                      created_at=clock.now())
    session.add(comment)
    session.flush()
    audit.record(session, "comment.added", actor=user, instance_id=instance.id, task_id=task_id or None,
                 payload={"comment_id": comment.id, "body": text})
    return comment


def clean_body(body: object) -> str:
    """The comment text, trimmed, with line breaks as ``\\n``. Raises ValidationError."""
    text = body.replace("\r\n", "\n").replace("\r", "\n").strip() if isinstance(body, str) else ""
    problem = None
    if not text:
        problem = _("Write a comment first.")
    elif len(text) > COMMENT_MAX_LENGTH:
        problem = _("At most %(n)s characters.", n=COMMENT_MAX_LENGTH)
    elif _CONTROL.search(text):
        problem = _("Contains control characters.")
    if problem:
        raise ValidationError(_("The comment could not be saved."), [FieldError("body", problem)])
    return text
