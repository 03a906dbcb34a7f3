"""An ``xdpnic attach`` process for a test: started, waited for, stopped, and checked to have
left nothing behind."""

import json
import os
import pathlib
import selectors
import signal
import subprocess
import sys
import time

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[2]
READY_TIMEOUT = 900         # the first attach on a fresh tree builds the Verilated NIC


class Attached:
    """``xdpnic attach PROG --json --name NAME ...`` in a child process."""

    def __init__(self, program, name: str, *extra: str):
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware.cli", "attach", str(program), "--json",
             "--name", name, *extra],
            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.info = self._line("ready", READY_TIMEOUT)["ready"]

    def _line(self, key: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=1):
                    if self.proc.poll() is not None:
                        break
                    continue
                line = self.proc.stdout.readline()
                if not line:
                    break
                data = json.loads(line)
                if key in data:
                    return data
        self.kill()
        raise AssertionError(f"xdpnic attach gave no {key!r} line: {self.proc.stderr.read()}")

    def children(self) -> list[int]:
        """Processes the attachment started (the simulator)."""
        pids = []
        for task in pathlib.Path(f"/proc/{self.proc.pid}/task").glob("*"):
            try:
                pids += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                pass
        return pids

    def interrupt(self, timeout: float = 30) -> dict:
        """Ctrl-C: the final counters; the process must end by itself, with status 0."""
        self.proc.send_signal(signal.SIGINT)
        counters = self._line("counters", timeout)["counters"]
        assert self.proc.wait(timeout) == 0, self.proc.stderr.read()
        return counters

    def kill(self) -> None:
        """For a test that failed half-way: end the process and remove what it left."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for ns in (self.name, f"{self.name}-host"):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def netns_exists(name: str) -> bool:
    return os.path.exists(f"/run/netns/{name}")


def in_ns(name: str, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", name, *command], capture_output=True,
                          text=True, timeout=timeout)
