#!/usr/bin/env bash
# Sets everything up and opens StyleLens: ./run_app.sh   (PORT=8501 and CATALOG_DIR=... are optional)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh
python -m core prepare   # database up, catalog imported from CATALOG_DIR if empty, index in step
port="${PORT:-8501}"
echo "» StyleLens is starting at http://localhost:${port}"
exec streamlit run app.py --server.port "$port" --server.headless true
