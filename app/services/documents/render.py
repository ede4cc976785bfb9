"""HTML (Jinja2 templates in reports/) to PDF/A-2b with WeasyPrint, with a verification QR code."""

from __future__ import annotations

import atexit
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import weakref
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

log = logging.getLogger(__name__)


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
_made_by: weakref.WeakKeyDictionary[FontConfiguration, int] = weakref.WeakKeyDictionary()  # -> pid


def font_config(compact: bool) -> FontConfiguration:
    """This thread's WeasyPrint font configuration, made once and reused by every render.

    A fresh one per document (WeasyPrint's default) reloads the Fontconfig configuration and
    lets Pango match, open and measure the Noto CJK faces again each time: ~90 of the ~210 ms
    that WeasyPrint spends laying out the 3-page agreement. Its caches are keyed by font and
    style, but the @font-face rules it has seen stay in it: documents that declare the compact
    faces and documents that do not (see ``_CompactFonts``) get one each, so that a document
    without them does not find them anyway. Pango's font map is not thread-safe, hence one
    per thread.
    """
    configs: dict[bool, FontConfiguration] | None = getattr(_fonts, "configs", None)
    if configs is None:
        configs = _fonts.configs = {}
    if compact not in configs:
        configs[compact] = FontConfiguration()
        _made_by[configs[compact]] = os.getpid()
    return configs[compact]


@atexit.register
def _remove_font_copies() -> None:
    """A FontConfiguration copies the @font-face files it loads into a temporary folder that
    it removes when collected, which the ones still held at interpreter exit may never be:
    remove them now (in the process that made them; a forked child leaves its parent's)."""
    for config, pid in list(_made_by.items()):
        if pid == os.getpid():
            config.__del__()


# --------------------------------------------------------------------------- compact fonts

# The faces reports/fonts.css names first: each the Noto CJK SC face of Debian's .ttc
# collection (fontconfig pattern), cut down to the characters of GB 2312 (all 6,763 hanzi and
# its symbols), ASCII, Latin-1, general and CJK punctuation and full-width forms, with the
# OpenType layout that serves them (HarfBuzz subsetter). WeasyPrint copies a face's whole file
# into memory for every document, then subsets it keeping every glyph id below the highest
# one used and compresses the result: ~65,000 glyphs and 20-27 MB a face for the collection,
# ~13,500 and 4-5 MB for these, which takes ~170 ms and half the file size off the agreement.
# The glyphs are the same, so a document looks exactly the same. A document with a character
# outside the set (a rare name) is declared without them and uses the full faces throughout.
COMPACT_FACES = (  # (family in fonts.css, weight, source face as a fontconfig pattern)
    ("GrantFlow Serif", 400, "Noto Serif CJK SC:style=Regular"),
    ("GrantFlow Serif", 700, "Noto Serif CJK SC:style=Bold"),
    ("GrantFlow Sans", 700, "Noto Sans CJK SC:style=Bold"),
)


def compact_charset() -> list[int]:
    """The code points the compact faces keep, ascending."""
    chars = {*range(0x20, 0x7F), *range(0xA0, 0x100), *range(0x2000, 0x2070), *range(0x3000, 0x3040),
             *range(0xFF00, 0xFFF0)}
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes((high, low)).decode("gb2312")))
            except UnicodeDecodeError:
                continue
    return sorted(chars)


class _CompactFonts:
    """Makes the compact faces once per process (~1 s), in a private temporary folder, and
    gives the @font-face rules that name them; no rules at all when anything is missing
    (fontconfig's fc-match, the source faces, libharfbuzz-subset), and the documents then use
    the full faces, as fonts.css names them next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._css: Markup | None = None
        self._pid = 0
        self._charset = frozenset(map(chr, compact_charset())) | frozenset(map(chr, range(0x80)))

    def declared_in(self, html: str) -> bool:
        """Whether ``html`` declares the compact faces."""
        return bool(self._css) and str(self._css) in html

    def covers(self, text: str) -> bool:
        """Whether the compact faces have every character of ``text`` (markup included)."""
        return set(text) <= self._charset

    def css(self) -> Markup:
        with self._lock:
            if self._css is None or self._pid != os.getpid():  # a forked child makes its own
                self._pid = os.getpid()
                try:
                    self._css = self._build()
                except Exception:  # fonts are an optimisation: never fail a document for them
                    log.warning("compact document fonts unavailable; using the full faces", exc_info=True)
                    self._css = Markup("")
            return self._css

    def _build(self) -> Markup:
        fc_match = shutil.which("fc-match")
        if fc_match is None:
            return Markup("")
        ffi, hb, subset = _harfbuzz()
        charset = compact_charset()
        folder = Path(tempfile.mkdtemp(prefix="grantflow-fonts-"))
        atexit.register(_remove_in, os.getpid(), folder)
        rules = []
        for family, weight, pattern in COMPACT_FACES:
            found = subprocess.run([fc_match, "--format=%{file}\n%{index}\n%{family}\n%{style}", pattern],  # noqa: S603
                                   capture_output=True, text=True, check=True, timeout=10).stdout.split("\n")
            name, style = pattern.split(":style=")
            if len(found) < 4 or name not in found[2].split(",") or style not in found[3].split(","):
                log.warning("font %s not installed; documents use fontconfig's match", pattern)
                continue
            blob = ffi.gc(hb.hb_blob_create_from_file_or_fail(found[0].encode()), hb.hb_blob_destroy)
            face = ffi.gc(hb.hb_face_create(blob, int(found[1])), hb.hb_face_destroy)
            spec = ffi.gc(subset.hb_subset_input_create_or_fail(), subset.hb_subset_input_destroy)
            unicodes = subset.hb_subset_input_unicode_set(spec)
            for code_point in charset:
                hb.hb_set_add(unicodes, code_point)
            compact = ffi.gc(subset.hb_subset_or_fail(face, spec), hb.hb_face_destroy)
            if compact == ffi.NULL:
                continue
            out = ffi.gc(hb.hb_face_reference_blob(compact), hb.hb_blob_destroy)
            length = ffi.new("unsigned int *")
            data = ffi.unpack(hb.hb_blob_get_data(out, length), length[0])
            path = folder / f"{family.replace(' ', '-')}-{weight}.otf"
            path.write_bytes(data)
            rules.append(f'@font-face {{ font-family: "{family}"; font-weight: {weight}; '
                         f'src: url("{path.as_uri()}"); }}')
        return Markup(f"<style>{' '.join(rules)}</style>") if rules else Markup("")  # noqa: S704 - our own rules


def _remove_in(pid: int, folder: Path) -> None:
    """At exit, remove ``folder`` if this is the process that made it (not a forked child)."""
    if os.getpid() == pid:
        shutil.rmtree(folder, ignore_errors=True)


def _harfbuzz() -> tuple[Any, Any, Any]:
    """cffi bindings of the few HarfBuzz calls that subset a face by code point."""
    from cffi import FFI

    ffi = FFI()
    ffi.cdef("""
        typedef struct hb_blob_t hb_blob_t;
        typedef struct hb_face_t hb_face_t;
        typedef struct hb_set_t hb_set_t;
        typedef struct hb_subset_input_t hb_subset_input_t;
        hb_blob_t *hb_blob_create_from_file_or_fail (const char *file_name);
        void hb_blob_destroy (hb_blob_t *blob);
        const char *hb_blob_get_data (hb_blob_t *blob, unsigned int *length);
        hb_face_t *hb_face_create (hb_blob_t *blob, unsigned int index);
        void hb_face_destroy (hb_face_t *face);
        hb_blob_t *hb_face_reference_blob (hb_face_t *face);
        void hb_set_add (hb_set_t *set, uint32_t codepoint);
        hb_subset_input_t *hb_subset_input_create_or_fail (void);
        void hb_subset_input_destroy (hb_subset_input_t *input);
        hb_set_t *hb_subset_input_unicode_set (hb_subset_input_t *input);
        hb_face_t *hb_subset_or_fail (hb_face_t *source, const hb_subset_input_t *input);
    """)
    return ffi, ffi.dlopen("libharfbuzz.so.0"), ffi.dlopen("libharfbuzz-subset.so.0")


compact_fonts = _CompactFonts()


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
        faces = compact_fonts.css()
        doc = {"kind": kind.name, "title": kind.title_zh, "number": stamp.number, "version": stamp.version,
               "code": stamp.code_display, "verify_url": stamp.verify_url, "qr": qr_svg(stamp.verify_url),
               "issued_on": cn_date(stamp.issued_at), "supersedes": stamp.supersedes_number,
               "articles": [article_label(a) for a in stamp.articles], "font_faces": faces}
        try:
            html = self.env.get_template(kind.template).render({**context, "doc": doc})
        except TemplateError as exc:
            raise DocumentError(f"the {kind.name} template failed: {exc}") from exc
        if faces and not compact_fonts.covers(html):
            # a character outside the compact faces: the full faces for the whole document (a
            # line mixing a compact face and its full face's fallback glyph is ~0.1 mm taller)
            html = html.replace(str(faces), "", 1)
        return html

    def pdf(self, html: str) -> bytes:
        """Lay out ``html`` as PDF/A-2b. Raises DocumentError when WeasyPrint fails."""
        compact = compact_fonts.declared_in(html)
        try:
            out = HTML(string=html, base_url=str(self.folder)).write_pdf(pdf_variant=PDF_VARIANT,
                                                                          font_config=font_config(compact))
        except Exception as exc:  # WeasyPrint raises from many layers (CSS, fonts, images)
            raise DocumentError(f"the document could not be laid out: {exc}") from exc
        if not out:
            raise DocumentError("the document could not be laid out")
        return bytes(out)
