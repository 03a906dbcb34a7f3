#!/usr/bin/env bash
# The main job: install what is missing, then load the demo XDP program into the NIC and push
# a capture of mixed traffic through it. Extra arguments go to `xdpnic demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec .venv/bin/xdpnic demo "$@"
