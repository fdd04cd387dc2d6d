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
# pip's stderr minus the noise about package-index locations that do not exist on this machine;
# pip's own exit status is kept.
_pip() {
  "$VPY" -m pip --quiet "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2 || true)
}
fieldkit_install() {
  local extras="$1"
  local stamp=".venv/.installed-$(echo "$extras" | tr ',' '-')"
  local want
  want="$(cat pyproject.toml constraints.txt | sha1sum | cut -c1-16)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  echo "installing fieldkit[$extras] into .venv (torch pinned to the CPU build) ..." >&2
  _pip install --upgrade pip
  _pip install -c constraints.txt "torch==2.13.0"
  _pip install -c constraints.txt -e ".[$extras]"
  echo "$want" > "$stamp"
}
