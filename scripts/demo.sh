#!/usr/bin/env bash
# The main job: install what is missing, then the live demo (a clang-compiled firewall with a
# map on the Verilated NIC behind Linux interfaces: ping through it, block the sender with a map
# update, the pings stop; counters and captures in out/demo). It needs root for the network
# namespaces (sudo is used when available); without it, the capture demo runs instead. Extra
# arguments go to `xdpnic demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [ "$(id -u)" -eq 0 ]; then
    exec .venv/bin/xdpnic demo --live "$@"
elif sudo -n true 2>/dev/null; then
    exec sudo .venv/bin/xdpnic demo --live "$@"
fi
echo "demo: not root and no password-less sudo: the live demo needs network namespaces;" \
     "running the capture demo instead (xdpnic demo)" >&2
exec .venv/bin/xdpnic demo "$@"
