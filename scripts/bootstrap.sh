#!/usr/bin/env bash
# Sourced by run_app.sh (`source scripts/bootstrap.sh app`) and run_tests.sh (`source scripts/bootstrap.sh test`):
# makes .venv (Python 3.11) and installs StyleLens into it (`pip install -e .`, with the [test] extra for the
# tests), every version held to constraints.txt, when any of those files changed since the last install.
# Leaves the venv activated.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
extra="${1:-app}"  # app: the runtime only; test: with pytest, playwright and ruff
python_bin="$(command -v python3.11 || command -v python3)"
if [ ! -x "$venv/bin/python" ]; then
  echo "» Creating the virtual environment in .venv (first run only)…"
  "$python_bin" -m venv "$venv"
fi
target="$root"
[ "$extra" != "app" ] && target="$root[$extra]"
stamp="$venv/.install-$extra.sha256"
wanted="$(cat "$root/requirements.txt" "$root/pyproject.toml" "$root/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "» Installing StyleLens and its requirements (first run takes several minutes: torch is large)…"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet --quiet -c "$root/constraints.txt" -e "$target"  # -qq: errors only
  echo "$wanted" > "$stamp"
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"
# Models load from local files (bundled MiniLM, assets/); only an hf:<id> encoder goes online, once.
export TOKENIZERS_PARALLELISM=false
