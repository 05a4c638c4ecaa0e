#!/usr/bin/env bash
# Sets up the same environment as the app and runs the test suite: ./run_tests.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")"
source scripts/bootstrap.sh test
exec python -m pytest "$@"
