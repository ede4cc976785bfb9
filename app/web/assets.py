"""Front-end assets installed by npm (`npm ci`), served from node_modules by an allow-list."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, send_from_directory

ROOT = Path(__file__).resolve().parents[2] / "node_modules"
ALLOWED_PREFIXES = (
    "bpmn-js/dist/bpmn-navigated-viewer.production.min.js",
    "bpmn-js/dist/bpmn-modeler.production.min.js",
    "bpmn-js/dist/assets/",
    "bpmn-js-i18n/translations/",
    "axe-core/axe.min.js",
)

bp = Blueprint("assets", __name__)


@bp.get("/assets/<path:name>")
def asset(name: str) -> Any:
    """One allow-listed file under node_modules; anything else (or a traversal) is a 404."""
    if ".." in name.split("/") or not name.startswith(ALLOWED_PREFIXES):
        abort(404)
    response = send_from_directory(ROOT, name, max_age=86400)
    return response
