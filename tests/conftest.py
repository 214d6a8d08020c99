import os
import sys

import pytest

# The test modules import their helpers (helpers, isa_testlib, test_differential) as top-level
# modules: make that work in every import mode (--import-mode=importlib included) and from a
# copy of tests/ outside the source tree, where the installed hologram is what gets tested.
_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=20000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False,
                     help="run slow tests (long fuzzing, large launches)")
    parser.addoption("--rundask", action="store_true", default=False,
                     help="run the tests on a real dask.distributed LocalCluster")


def pytest_configure(config):
    # also declared in pyproject.toml; here for a copy of tests/ run without it
    config.addinivalue_line("markers", "slow: long-running tests (fuzzing at scale); run with --runslow")
    config.addinivalue_line("markers", DASK_DOC)


DASK_DOC = ("dask: runs on a real dask.distributed LocalCluster (2 worker processes); run "
            "with --rundask")


def pytest_collection_modifyitems(config, items):
    if not config.getoption("--rundask"):
        skip_dask = pytest.mark.skip(reason="dask cluster: run with --rundask")
        for item in items:
            if "dask" in item.keywords:
                item.add_marker(skip_dask)
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(params=["vm", "reference"])
def backend_name(request):
    """Both engines: the Cython VM and the pure-Python reference interpreter."""
    return request.param


@pytest.fixture
def backend(backend_name):
    import hologram as hg
    return hg.CpuBackend() if backend_name == "vm" else hg.ReferenceBackend()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """With HOLOGRAM_COUNT_ENGINES set: how many launches ran compiled / interpreted."""
    if not os.environ.get("HOLOGRAM_COUNT_ENGINES"):
        return
    jit = sys.modules.get("hologram.jit")
    if jit is None:
        return
    counts = jit.COUNTS
    total = sum(counts.values()) or 1
    terminalreporter.write_line(
        f"hologram launches by engine: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        + f" ({100 * counts.get('jit', 0) / total:.1f}% compiled; HOLOGRAM_ENGINE="
        f"{os.environ.get('HOLOGRAM_ENGINE', '')!r})")
