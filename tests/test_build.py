"""Build properties: the VM loop never touches Python objects (Cython annotation scores)."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "hologram" / "_core.pyx"


def test_hot_region_has_no_python_interaction(tmp_path):
    """Every line between '# hot: begin' and '# hot: end' of _core.pyx scores 0 in `cython -a`
    (no C-API calls), except the marked Ctrl-C check that takes the GIL every 20 ms."""
    pytest.importorskip("Cython")
    if not SOURCE.exists():
        pytest.skip("source tree not available (installed package)")
    pkg = tmp_path / "hologram"
    pkg.mkdir()
    for name in ("_core.pyx", "_openmp.pxd", "_vmhelpers.h"):
        shutil.copy(ROOT / "hologram" / name, pkg / name)
    (pkg / "__init__.py").write_text("")
    subprocess.run([sys.executable, "-m", "cython", "-a", "-3", "-X", "boundscheck=False",
                    "-X", "wraparound=False", "-X", "initializedcheck=False",
                    "-X", "cdivision=True", str(pkg / "_core.pyx")],
                   check=True, cwd=tmp_path, capture_output=True)
    html = (pkg / "_core.html").read_text()
    lines = SOURCE.read_text().splitlines()
    start = next(i for i, l in enumerate(lines, 1) if "# hot: begin" in l)
    end = next(i for i, l in enumerate(lines, 1) if "# hot: end" in l)
    gil = [i for i, l in enumerate(lines, 1) if "# gil: begin" in l or "# gil: end" in l]
    scores = {int(n): int(s) for s, n in re.findall(
        r'class="cython line score-(\d+)"[^>]*>.*?<span class="">(\d+)</span>', html)}
    assert scores and start < end
    bad = {n: s for n, s in scores.items()
           if start <= n <= end and s and not gil[0] <= n <= gil[1]}
    assert not bad, f"Python interaction in the VM loop (line: score): {bad}"
