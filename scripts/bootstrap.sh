#!/usr/bin/env bash
# Sourced by run_app.sh and run_tests.sh: makes .venv (Python 3.11) and installs requirements.txt
# when it changed since the last install. Leaves the venv activated.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
python_bin="$(command -v python3.11 || command -v python3)"
if [ ! -x "$venv/bin/python" ]; then
  echo "» Creating the virtual environment in .venv (first run only)…"
  "$python_bin" -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
wanted="$(sha256sum "$root/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
  echo "» Installing requirements (first run takes several minutes: torch is large)…"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  "$venv/bin/python" -m pip install --quiet -r "$root/requirements.txt"
  echo "$wanted" > "$stamp"
fi
# shellcheck disable=SC1091
source "$venv/bin/activate"
# Models load from local files (bundled MiniLM, assets/); only an hf:<id> encoder goes online, once.
export TOKENIZERS_PARALLELISM=false
