"""Build properties: the VM loop never touches Python objects (Cython annotation scores)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "hologram"
# Files of the extension that hold no VM code to check: the module file (cimports, includes)
# and the Python-facing classes.
NOT_HOT = {"_core.pyx", "_vm_engine.pxi"}


def _regions(lines, begin, end):
    """[(first, last)] line ranges between the markers (1-based, inclusive)."""
    starts = [i for i, line in enumerate(lines, 1) if line.startswith(begin)]
    stops = [i for i, line in enumerate(lines, 1) if line.startswith(end)]
    assert len(starts) == len(stops) and all(a < b for a, b in zip(starts, stops)), \
        f"unbalanced {begin!r} / {end!r} markers"
    return list(zip(starts, stops))


def test_hot_regions_have_no_python_interaction(tmp_path):
    """Every line between '# hot: begin' and '# hot: end' of the extension's sources (_core.pyx
    and the _vm_*.pxi files it includes) scores 0 in `cython -a` (no C-API calls), except the
    marked Ctrl-C check that takes the GIL every 20 ms."""
    pytest.importorskip("Cython")
    if not (PKG / "_core.pyx").exists():
        pytest.skip("source tree not available (installed package)")
    sources = ["_core.pyx"] + sorted(p.name for p in PKG.glob("_vm_*.pxi"))
    pkg = tmp_path / "hologram"
    pkg.mkdir()
    for name in sources + ["_openmp.pxd", "_vmhelpers.h"]:
        shutil.copy(PKG / name, pkg / name)
    (pkg / "__init__.py").write_text("")
    subprocess.run([sys.executable, "-m", "cython", "-a", "-3", "-X", "boundscheck=False",
                    "-X", "wraparound=False", "-X", "initializedcheck=False",
                    "-X", "cdivision=True", str(pkg / "_core.pyx")],
                   check=True, cwd=tmp_path, capture_output=True)
    checked = 0
    bad = {}
    for name in sources:
        lines = (PKG / name).read_text(encoding="utf-8").splitlines()
        hot = _regions(lines, "# hot: begin", "# hot: end")
        gil = _regions(lines, "# gil: begin", "# gil: end")
        assert hot or name in NOT_HOT, f"{name} has no '# hot: begin' / '# hot: end' region"
        if not hot:
            continue
        html = (pkg / name).with_suffix(".html").read_text(encoding="utf-8")
        scores = {int(n): int(s) for s, n in re.findall(
            r'class="cython line score-(\d+)"[^>]*>.*?<span class="">(\d+)</span>', html)}
        assert len(scores) == len(lines), f"annotation of {name} does not match the source"
        for n, s in scores.items():
            if any(a <= n <= b for a, b in hot):
                checked += 1
                if s and not any(a <= n <= b for a, b in gil):
                    bad[f"{name}:{n}"] = s
    assert checked > 2000, checked           # the VM proper: most of the extension's lines
    assert not bad, f"Python interaction in the VM loop (file:line: score): {bad}"
