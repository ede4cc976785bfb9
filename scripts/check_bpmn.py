"""Validate BPMN/DMN files the way a deployment does, without a database.

    .venv/bin/python scripts/check_bpmn.py workflows/data_authorization.bpmn workflows/*.dmn
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import engine  # noqa: E402
from app.errors import DefinitionError  # noqa: E402
from app.services.actions import ACTION_NAMES  # noqa: E402
from app.services.articles import ARTICLES  # noqa: E402
from app.services.forms import FormRegistry  # noqa: E402
from app.services.roles import ROLES  # noqa: E402


def main(paths: list[str]) -> int:
    files = {Path(p).name: Path(p).read_bytes() for p in paths}
    try:
        forms = FormRegistry(ROOT / "forms")
    except RuntimeError as exc:
        print(f"forms: {exc}")
        return 1
    try:
        info = engine.compile_definition(files, known_roles=set(ROLES), known_forms=forms.keys,
                                         known_articles=set(ARTICLES), known_actions=set(ACTION_NAMES))
    except DefinitionError as exc:
        print(f"refused: {exc.message}")
        for err in exc.errors:
            print(f"  {err.element or '(file)'}: {err.message}")
        return 1
    print(f"ok: {info.process_key} ({len(info.tasks)} user tasks; start form {info.start_form_key}; "
          f"start roles {', '.join(info.start_roles)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
