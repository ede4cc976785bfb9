#!/usr/bin/env bash
# Install what GrantFlow needs on a Debian machine: system packages (when root or sudo is
# available; otherwise name them), the Python virtual environment, and the npm assets.
# Usage: scripts/setup.sh [--test]   (--test adds the test extras)
set -euo pipefail
cd "$(dirname "$0")/.."

# WeasyPrint renders the PDFs with Pango and a CJK font; without libharfbuzz-subset0 it falls
# back to a path 10-40x slower. fontconfig's fc-match finds the Noto CJK faces of which the
# renderer makes compact copies once per process (app/services/documents/render.py).
APT_PACKAGES=(python3-venv nodejs npm libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-noto-cjk fontconfig)
# The browser tests drive Debian's Chromium (never a downloaded browser build).
[ "${1:-}" = "--test" ] && APT_PACKAGES+=(chromium poppler-utils)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  # python3-venv / nodejs may come from elsewhere (pyenv, NodeSource): only install what is really absent.
  really=()
  for pkg in "${missing[@]}"; do
    case "$pkg" in
      python3-venv) python3 -c 'import venv, ensurepip' 2>/dev/null || really+=("$pkg") ;;
      nodejs) command -v node >/dev/null || really+=("$pkg") ;;
      npm) command -v npm >/dev/null || really+=("$pkg") ;;
      *) really+=("$pkg") ;;
    esac
  done
  if [ "${#really[@]}" -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; else
      echo "Missing system packages: ${really[*]}" >&2
      echo "Install them with: sudo apt-get install -y ${really[*]}" >&2
      exit 1
    fi
    echo "Installing system packages: ${really[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${really[@]}"
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv"
  "$PY" -m venv .venv
fi
extras=""
[ "${1:-}" = "--test" ] && extras="[test]"
stamp=".venv/.installed${extras:+-test}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "Installing Python packages${extras:+ (with test extras)}"
  log=.venv/pip-install.log
  if ! { .venv/bin/pip install -q --upgrade pip && .venv/bin/pip install -q -e ".${extras}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "pip install failed; the full log is in $log" >&2
    exit 1
  fi
  touch "$stamp"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "Installing browser assets (npm ci)"
  npm ci --no-audit --no-fund --silent
fi

.venv/bin/pybabel compile -d app/web/translations >/dev/null 2>&1
