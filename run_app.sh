#!/usr/bin/env bash
# Sets everything up and opens StyleLens: ./run_app.sh   (PORT=8501 and CATALOG_DIR=... are optional)
# The app listens on this machine only; STYLELENS_HOST=0.0.0.0 (with APP_PASSWORD) serves the network.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh app
python -m core prepare   # database up, catalog imported from CATALOG_DIR if empty, index in step
port="${PORT:-8501}"
host="$(python -c 'from core.config import load_settings; print(load_settings().host)')"  # env or .env
case "$host" in
  127.0.0.1|localhost|::1)
    echo "» StyleLens is starting at http://localhost:${port} (this machine only; see \"Serving a network\" in the README)" ;;
  *)
    echo "» StyleLens is serving the network on ${host}:${port}"
    if [ -z "$(python -c 'from core.config import load_settings; print(load_settings().app_password or "")')" ]; then
      echo "  warning: APP_PASSWORD is not set: anyone who can reach this machine can use the app and import into"
      echo "  the catalog (server folder paths are turned off while serving a network)."
    fi ;;
esac
exec streamlit run app.py --server.port "$port" --server.address "$host" --server.headless true
