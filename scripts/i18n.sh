#!/usr/bin/env bash
# Refresh the message catalogue after changing user-visible text: extract, merge into the
# Chinese catalogue, compile. Then fill in the empty msgstr entries that it lists.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pybabel extract -F babel.cfg -k _ -k gettext -k lazy_gettext --no-location --omit-header 2>/dev/null \
  -o app/web/translations/messages.pot .
.venv/bin/pybabel update -i app/web/translations/messages.pot -d app/web/translations -l zh --no-fuzzy-matching
.venv/bin/pybabel compile -d app/web/translations >/dev/null
grep -B1 '^msgstr ""$' app/web/translations/zh/LC_MESSAGES/messages.po | grep '^msgid' | grep -v '^msgid ""$' || echo "every message is translated"
