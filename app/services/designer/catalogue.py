"""What the modeler's side panel offers: roles, forms, articles and host actions."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from app.models import User
from app.services import form_versions
from app.services.actions import ACTION_NAMES
from app.services.articles import ARTICLES, article_label
from app.services.designer.access import require_admin
from app.services.roles import ROLES


@dataclass(frozen=True)
class RoleEntry:
    key: str
    zh: str
    en: str


@dataclass(frozen=True)
class FormEntry:
    key: str
    title: str
    title_en: str


@dataclass(frozen=True)
class ArticleEntry:
    article: str  # "Art. 18", as diagrams cite it
    zh: str  # "第18条 合作方入驻及退出"
    en: str  # "Art. 18 Partner onboarding and exit"


@dataclass(frozen=True)
class Catalogue:
    roles: list[RoleEntry]
    forms: list[FormEntry]
    articles: list[ArticleEntry]
    actions: list[str]


def catalogue(session: Session, user: User) -> Catalogue:
    """Everything a diagram may refer to. Raises ForbiddenError for non-admins."""
    require_admin(user)
    form_entries = [FormEntry(key=f.key, title=f.title, title_en=f.title_en) for f in form_versions.summaries(session)]
    return Catalogue(
        roles=[RoleEntry(key=key, zh=zh, en=en) for key, (zh, en) in ROLES.items()],
        forms=form_entries,
        articles=[ArticleEntry(article=a, zh=article_label(a, "zh"), en=article_label(a, "en")) for a in ARTICLES],
        actions=list(ACTION_NAMES),
    )
