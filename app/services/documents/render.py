"""HTML (Jinja2 templates in reports/) to PDF/A-2b with WeasyPrint, with a verification QR code."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import qrcode
from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError
from markupsafe import Markup
from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration

from app.services.articles import article_label
from app.services.clock import LOCAL_TZ
from app.services.documents.errors import DocumentError
from app.services.documents.kinds import VALUE_LABELS, Kind

PDF_VARIANT = "pdf/a-2b"


@dataclass(frozen=True)
class Stamp:
    """What the platform adds to every document besides the caller's context."""

    number: str
    verification_code: str
    version: int
    verify_url: str
    issued_at: datetime
    articles: tuple[str, ...]
    supersedes_number: str | None = None

    @property
    def code_display(self) -> str:
        return f"{self.verification_code[:5]}-{self.verification_code[5:]}"


def cn_date(value: Any) -> str:
    """2026-11-20 (a date, a datetime in UTC, or an ISO string) -> "2026年11月20日"."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        value = value.astimezone(LOCAL_TZ).date() if value.tzinfo else value.date()
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    return str(value)


def value_label(value: Any, field: str) -> str:
    return VALUE_LABELS.get(field, {}).get(str(value), str(value))


def qr_svg(url: str) -> Markup:
    """The QR code of ``url`` as inline SVG, one unit per module (the modules qrcode's
    SvgPathImage drew): a single path with one rectangle per horizontal run of dark modules.
    WeasyPrint parses and draws every path command in Python, and one square per module cost
    20-30 ms a document; the runs take half the commands and the time."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=1)
    code.add_data(url)
    code.make(fit=True)
    matrix = code.get_matrix()  # with the border
    size = len(matrix)
    runs = []
    for y, row in enumerate(matrix):
        x = 0
        while x < size:
            if not row[x]:
                x += 1
                continue
            start = x
            while x < size and row[x]:
                x += 1
            runs.append(f"M{start},{y}h{x - start}v1h-{x - start}z")
    svg = (f'<svg width="{size}mm" height="{size}mm" version="1.1" viewBox="0 0 {size} {size}" '
           f'xmlns="http://www.w3.org/2000/svg"><path d="{"".join(runs)}" id="qr-path" fill="#000000" '
           f'fill-opacity="1" fill-rule="nonzero" stroke="none"/></svg>')
    return Markup(svg)  # noqa: S704 - built here from the QR matrix of our own URL, no user markup


_fonts = threading.local()


def font_config() -> FontConfiguration:
    """This thread's WeasyPrint font configuration, made once and reused by every render.

    A fresh one per document (WeasyPrint's default) reloads the Fontconfig configuration and
    lets Pango match, open and measure the Noto CJK faces again each time: ~90 of the ~210 ms
    that WeasyPrint spends laying out the 3-page agreement. What it keeps between documents is
    keyed by font, style and @font-face rule, so documents cannot leak into each other; Pango's
    font map is not thread-safe, hence one per thread.
    """
    config: FontConfiguration | None = getattr(_fonts, "config", None)
    if config is None:
        config = _fonts.config = FontConfiguration()
    return config


class Renderer:
    """Renders the templates of one folder; ``version`` names the exact set of template files."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = Environment(loader=FileSystemLoader(folder), autoescape=True, undefined=StrictUndefined,
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(cn_date=cn_date, label=value_label, article=article_label)
        self.version = self._version()

    def _version(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(p for p in self.folder.rglob("*") if p.is_file()):
            digest.update(path.relative_to(self.folder).as_posix().encode() + b"\0" + path.read_bytes())
        return f"reports@{digest.hexdigest()[:12]}"

    def html(self, kind: Kind, context: Mapping[str, Any], stamp: Stamp) -> str:
        """The document as HTML. Raises DocumentError when the template fails (a missing key)."""
        doc = {"kind": kind.name, "title": kind.title_zh, "number": stamp.number, "version": stamp.version,
               "code": stamp.code_display, "verify_url": stamp.verify_url, "qr": qr_svg(stamp.verify_url),
               "issued_on": cn_date(stamp.issued_at), "supersedes": stamp.supersedes_number,
               "articles": [article_label(a) for a in stamp.articles]}
        try:
            return self.env.get_template(kind.template).render({**context, "doc": doc})
        except TemplateError as exc:
            raise DocumentError(f"the {kind.name} template failed: {exc}") from exc

    def pdf(self, html: str) -> bytes:
        """Lay out ``html`` as PDF/A-2b. Raises DocumentError when WeasyPrint fails."""
        try:
            out = HTML(string=html, base_url=str(self.folder)).write_pdf(pdf_variant=PDF_VARIANT,
                                                                          font_config=font_config())
        except Exception as exc:  # WeasyPrint raises from many layers (CSS, fonts, images)
            raise DocumentError(f"the document could not be laid out: {exc}") from exc
        if not out:
            raise DocumentError("the document could not be laid out")
        return bytes(out)
