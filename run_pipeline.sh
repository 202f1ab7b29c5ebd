#!/usr/bin/env bash
# Set up a fresh machine (a .venv here) and run the main apexrl job. Arguments go to
# `apexrl pipeline`; try `./run_pipeline.sh --help`.
set -euo pipefail
cd "$(dirname "$0")"
scripts/bootstrap.sh train,edge
exec .venv/bin/apexrl pipeline "$@"
