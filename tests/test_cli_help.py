"""Every ``xdpnic`` sub-command answers --help, and the bare command lists them all."""

import subprocess
import sys

import pytest

from firmware import cli


def command_names() -> list[str]:
    parser = cli.build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_bare_command_lists_every_sub_command(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    for name in command_names():
        assert name in out


@pytest.mark.parametrize("name", command_names())
def test_sub_command_help(name):
    done = subprocess.run([sys.executable, "-m", "firmware.cli", name, "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: xdpnic ")     # aliases show the main name
