"""Which steps and documents implement each article: the /articles coverage table."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from app.services import definitions
from app.services.articles import ARTICLES, PRESCRIBES_STEPS, article_number, chapter


@dataclass
class Step:
    process_key: str
    process_name: str
    element: str
    title: str
    role: str | None


@dataclass
class ArticleCoverage:
    article: str
    number: int
    chapter: int
    prescribes_steps: bool
    processes: list[tuple[str, str]] = field(default_factory=list)  # (key, name) citing it as a whole
    steps: list[Step] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)

    @property
    def implemented(self) -> bool:
        return bool(self.steps or self.documents)


def coverage(session: Session) -> list[ArticleCoverage]:
    """For every article: the deployed processes and steps (newest versions) that cite it."""
    rows = {a: ArticleCoverage(a, article_number(a), chapter(article_number(a)),
                               article_number(a) in PRESCRIBES_STEPS) for a in ARTICLES}
    for definition in definitions.latest_all(session):
        meta = definition.meta
        for article in meta.get("articles", []):
            if article in rows:
                rows[article].processes.append((definition.process_key, definition.name))
        for element, task in meta.get("tasks", {}).items():
            for article in task.get("articles", []):
                if article in rows:
                    rows[article].steps.append(Step(definition.process_key, definition.name, element,
                                                    task.get("title") or element, task.get("role")))
    return list(rows.values())
