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
    rules: list[tuple[str, str]] = field(default_factory=list)  # platform rules (zh, en)

    @property
    def implemented(self) -> bool:
        return bool(self.steps or self.documents or self.rules)


# Rules the platform itself enforces, outside any one diagram.
PLATFORM_RULES: dict[str, list[tuple[str, str]]] = {
    "Art. 2": [("申请含不予开放数据的，在受理时即拒绝并列明该数据", "A request naming data that is not open is refused at intake, naming it")],
    "Art. 9": [("数源部门维护本部门目录的开放类型和分级", "Source departments keep the classification and grade of their catalogue items")],
    "Art. 15": [("仅在协议期满前6个月内受理续期申请", "Renewal is accepted only in the 6 months before expiry"),
                ("期满未续期的协议自动终止", "An agreement not renewed by expiry is terminated")],
    "Art. 16": [("协议终止时立即关闭全部数据权限", "On termination every data permission is closed at once"),
                ("网络日志留存不少于6个月", "Network logs are kept at least 6 months")],
    "Art. 27": [("授权期限不超过服务协议有效期", "A grant never outlasts its service agreement"),
                ("数据产品仅可使用已获授权的数据", "A data product may use only data granted to the partner")],
}


def coverage(session: Session) -> list[ArticleCoverage]:
    """For every article: the deployed processes and steps (newest versions) that cite it."""
    rows = {a: ArticleCoverage(a, article_number(a), chapter(article_number(a)),
                               article_number(a) in PRESCRIBES_STEPS) for a in ARTICLES}
    for article, rules in PLATFORM_RULES.items():
        rows[article].rules.extend(rules)
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
