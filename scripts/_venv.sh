# Sourced by scripts/run and scripts/test: create or reuse .venv and install footprint into it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
extras="${1:-}"
python=""
for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then python="$candidate"; break; fi
done
[ -n "$python" ] || { echo "footprint needs Python 3.11 (python3.11 or python3 on PATH)" >&2; exit 2; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
stamp=".venv/.installed${extras:+-$extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
    touch "$stamp"
fi
# footprint's own bytecode, written here as pip writes an installed package's (an editable
# install has none): where PYTHONDONTWRITEBYTECODE is set, as in many containers, every
# command compiled the whole package again (0.4 s of each command; 40 ms when up to date).
.venv/bin/python -m compileall -q footprint >/dev/null
