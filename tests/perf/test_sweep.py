"""Sweeps on Dask (perf/sweep.py): results in the order of the configurations, the same on a
two-worker LocalCluster as one after the other, task errors raised, an unreachable scheduler
named; and a small ``xdpnic report`` whose rows do not depend on where they ran."""

import json
import math
import pathlib

import pytest

from firmware.cli import main
from perf import sweep
from tests.conftest import require_verilator

DEMO = pathlib.Path(__file__).resolve().parents[2] / "firmware" / "progs" / "asm" / "xdp_demo.s"


def test_local_cluster_returns_results_in_order():
    numbers = [12, 3, 0, 7, 20, 1]
    expected = [math.factorial(n) for n in numbers]
    assert sweep.run(math.factorial, numbers, workers=0, show_progress=False) == expected
    assert sweep.run(math.factorial, numbers, workers=2, show_progress=False) == expected


def test_a_task_error_is_raised_to_the_caller():
    with pytest.raises(ValueError, match="not defined for negative values"):
        sweep.run(math.factorial, [3, -1], workers=2, show_progress=False)


def test_scheduler_from_the_environment(monkeypatch):
    monkeypatch.delenv(sweep.SCHEDULER_ENV, raising=False)
    assert sweep.scheduler_address(None) is None
    monkeypatch.setenv(sweep.SCHEDULER_ENV, "tcp://10.1.2.3:8786")
    assert sweep.scheduler_address(None) == "tcp://10.1.2.3:8786"
    assert sweep.scheduler_address("tcp://127.0.0.1:9") == "tcp://127.0.0.1:9"


def test_unreachable_scheduler_exits_2(capsys, tmp_path, monkeypatch):
    # Nothing listens on port 1 of the loopback: the connection is refused until the timeout.
    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    assert main(["report", "--programs", "xdp_drop", "--sizes", "64", "--packets", "4",
                 "--scheduler", "tcp://127.0.0.1:1", "--out", str(tmp_path / "p.md")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xdpnic report: cannot reach the Dask scheduler tcp://127.0.0.1:1")


@pytest.mark.parametrize("argv, message", [
    (["--workers", "-1"], "--workers must be 0 or more, not -1"),
    (["--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"],
     "--workers sizes the local cluster: not with --scheduler"),
    (["--scheduler", "localhost"], "--scheduler 'localhost': give an address such as"),
])
def test_bad_sweep_options_exit_2(argv, message, capsys, tmp_path):
    assert main(["report", *argv, "--out", str(tmp_path / "p.md")]) == 2
    assert message in capsys.readouterr().err
    assert main(["bench", str(DEMO), *argv, "--out", str(tmp_path / "b")]) == 2
    assert message in capsys.readouterr().err


def _rows(path):
    """The report's result without what depends on the run (date, wall clock)."""
    result = json.loads(path.read_text())
    result.pop("wall_clock")
    result.pop("provenance")
    result.pop("command")
    return result


@pytest.mark.rtl
def test_report_on_two_workers_equals_the_serial_report(tmp_path):
    """Two programs (one with maps and a warm-up packet) x two sizes on a two-worker
    LocalCluster: the same rows, verdicts and targets as the same sweep run serially."""
    require_verilator()
    common = ["report", "--programs", "xdp_drop,xdp_fw", "--sizes", "64,128", "--engines",
              "1", "--packets", "256", "--no-plots"]
    serial, cluster = tmp_path / "serial.md", tmp_path / "cluster.md"
    assert main([*common, "--workers", "0", "--out", str(serial)]) == 0
    assert main([*common, "--workers", "2", "--out", str(cluster)]) == 0
    a, b = _rows(serial.with_suffix(".json")), _rows(cluster.with_suffix(".json"))
    assert [r["size"] for e in b["programs"] for r in e["rows"]] == [64, 128, 64, 128]
    assert all("skipped" not in r for e in b["programs"] for r in e["rows"])
    assert a == b
