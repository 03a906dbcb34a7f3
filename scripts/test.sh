#!/usr/bin/env bash
# Install what is missing (scripts/setup.sh), then run the default test suite.
# Extra arguments go to pytest (for example: --runslow, -k conformance, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
jobs=${XDPNIC_TEST_JOBS:-$(nproc)}
set +e
.venv/bin/python -m pytest -n "$jobs" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "test.sh: pytest collected no tests; that is a failure" >&2
    exit 1
fi
exit "$status"
