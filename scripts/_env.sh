# Sourced by scripts/main and scripts/test: create .venv (if needed) and install fieldkit with
# the given extras. torch is pinned to the local CPU build first (constraints.txt) so that no
# dependency asks pip for the multi-GB CUDA wheels.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY="$ROOT/.venv/bin/python"
fieldkit_install() {
  local extras="$1"
  local stamp=".venv/.installed-$(echo "$extras" | tr ',' '-')"
  local want
  want="$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  "$VPY" -m pip install --quiet --upgrade pip
  "$VPY" -m pip install --quiet -c constraints.txt "torch==2.13.0"
  "$VPY" -m pip install --quiet -c constraints.txt -e ".[$extras]"
  echo "$want" > "$stamp"
}
