"""A few seconds of each fuzz target of tests/fuzz.py (the long runs: ``--runslow`` or the
script itself, see docs/robustness.md)."""

from __future__ import annotations

import os
import sys

import pytest

import fuzz


def _check(result):
    assert not result["findings"], result["findings"]
    assert not result["crashes"], result["crashes"]
    assert result["execs"] > 0, result


@pytest.mark.parametrize("target, seconds", [("asm", 2), ("json", 2)])
def test_fuzz_parsers_smoke(tmp_path, target, seconds):
    """The pure-Python parsers, in process."""
    _check(fuzz.run_in_process(target, seconds, 12345, tmp_path))


@pytest.mark.parametrize("target, seconds", [("vm", 5), ("diff", 4)])
def test_fuzz_vm_smoke(tmp_path, target, seconds):
    """The VM targets in a supervised child process (a crash would be reported, not fatal)."""
    _check(fuzz.supervise(target, seconds, 54321, tmp_path, env=_env()))


def _env():
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fuzz.hg.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + ([env["PYTHONPATH"]]
                                                  if env.get("PYTHONPATH") else []))
    return env


@pytest.mark.skipif(sys.platform == "win32", reason="SIGSEGV reporting differs on Windows")
def test_fuzz_supervisor_reports_a_crashing_input(tmp_path):
    """The supervisor survives a child that segfaults and keeps the input it was running."""
    env = _env()
    env["HOLOGRAM_FUZZ_SELFTEST_CRASH"] = "3"
    result = fuzz.supervise("json", 1.5, 7, tmp_path, max_execs=10, env=env)
    assert result["crashes"], result
    crash = result["crashes"][0]
    assert crash["returncode"] != 0
    text = (tmp_path / crash["file"]).read_text()
    assert text.startswith(f"crash: returncode {crash['returncode']}")
    assert len(text.splitlines()) > 2        # the input that was running


def test_fuzz_supervisor_reports_a_hanging_input(tmp_path):
    """An input that runs too long: the child is killed and the input kept."""
    env = _env()
    env["HOLOGRAM_FUZZ_SELFTEST_HANG"] = "3"
    result = fuzz.supervise("json", 3, 7, tmp_path, max_execs=10, env=env, hang_seconds=1.0)
    assert result["crashes"] and result["crashes"][0]["kind"] == "hang", result
    assert (tmp_path / result["crashes"][0]["file"]).read_text().startswith("hang:")


@pytest.mark.slow
@pytest.mark.parametrize("target", fuzz.TARGETS)
def test_fuzz_long(tmp_path, target):
    """pytest --runslow: two minutes per target (HOLOGRAM_FUZZ_SECONDS overrides)."""
    seconds = float(os.environ.get("HOLOGRAM_FUZZ_SECONDS", "120"))
    _check(fuzz.supervise(target, seconds, int.from_bytes(os.urandom(4), "little"), tmp_path,
                          env=_env()))
