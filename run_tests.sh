#!/usr/bin/env bash
# Set up a fresh machine (a .venv here) with the dev extras and run the test suite.
# Arguments go to pytest, e.g. `./run_tests.sh -m slow` or `./run_tests.sh tests/tracks -x`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh dev,train,deepracer,edge
exec .venv/bin/python -m pytest "$@"
