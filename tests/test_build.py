"""Build properties: the VM loop never touches Python objects (Cython annotation scores); the
build cache of setup.py reuses a build only while nothing it was made from changed."""

import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

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


# ---------------------------------------------------------------------------------------------
# The build cache (setup.py)

def _setup_module():
    """setup.py's functions, without running setup()."""
    pytest.importorskip("Cython")
    pytest.importorskip("setuptools")
    if not (ROOT / "setup.py").is_file() or not (PKG / "_core.pyx").is_file():
        pytest.skip("source tree not available (installed package)")
    return runpy.run_path(str(ROOT / "setup.py"), run_name="hologram_setup")


def _copy_sources(setup, dst):
    """setup.py and the extension's Cython/C sources, copied under dst."""
    rels = setup["extension_sources"](str(ROOT))
    for rel in rels:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, dst / rel)
    return rels


def test_extension_sources_are_every_cython_and_c_file():
    setup = _setup_module()
    rels = set(setup["extension_sources"](str(ROOT)))
    expected = {"setup.py"} | {p.relative_to(ROOT).as_posix() for suffix in
                               ("*.pyx", "*.pxi", "*.pxd", "*.h") for p in PKG.rglob(suffix)}
    assert rels == expected
    assert {"hologram/_core.pyx", "hologram/_openmp.pxd", "hologram/_vmhelpers.h"} <= rels
    assert any(r.endswith(".pxi") for r in rels)


def test_build_cache_key_follows_sources_switches_and_flags(tmp_path):
    setup = _setup_module()
    rels = _copy_sources(setup, tmp_path)
    (tmp_path / "hologram" / "backend.py").write_text("x = 1\n")
    env = {"PATH": os.defpath}
    compiler = SimpleNamespace(compiler_type="unix", compiler_so=["cc", "-O2"],
                               linker_so=["cc", "-shared"])
    args = [[{"name": "hologram._core"}, {"extra_compile_args": ["-fopenmp"]}]]

    def key(environ=env, compiler=compiler, args=args):
        return setup["cache_key"](setup["build_inputs"](str(tmp_path), environ, compiler, args))

    base = key()
    assert key() == base and len(base) == 32
    # Not inputs: Python modules, the environment at large, the cache's own switch.
    (tmp_path / "hologram" / "backend.py").write_text("x = 2\n")
    assert key(environ={**env, "HOME": "/elsewhere", "HOLOGRAM_NO_BUILD_CACHE": "1"}) == base
    # Inputs: every switch, the compiler's environment, commands and flags ...
    for name in ("HOLOGRAM_NO_OPENMP", "HOLOGRAM_REQUIRE_OPENMP", "HOLOGRAM_CYTHON_DEBUG",
                 "HOLOGRAM_SANITIZE", "HOLOGRAM_ANNOTATE", "CFLAGS", "LDFLAGS", "CC"):
        assert key(environ={**env, name: "1"}) != base, name
    assert key(compiler=SimpleNamespace(compiler_type="unix", compiler_so=["cc", "-O3"],
                                        linker_so=["cc", "-shared"])) != base
    assert key(args=[[{"name": "hologram._core"}, {"extra_compile_args": []}]]) != base
    # ... and every source: a changed .pxi, .pyx, .pxd, .h or setup.py, a new .pxi.
    for rel in [r for r in rels if r.endswith(".pxi")][:1] + [
            "hologram/_core.pyx", "hologram/_openmp.pxd", "hologram/_vmhelpers.h", "setup.py"]:
        path = tmp_path / rel
        original = path.read_bytes()
        path.write_bytes(original + b"\n")
        assert key() != base, rel
        path.write_bytes(original)
        assert key() == base, rel
    (tmp_path / "hologram" / "_vm_new.pxi").write_text("# a new include\n")
    assert key() != base


def _build_inplace(tree, **env):
    proc = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=tree,
                          env={**os.environ, "CFLAGS": "-O0 -g0", **env},
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    module = next((tree / "hologram").glob("_core*" + (".pyd" if os.name == "nt" else ".so")))
    return proc.stdout + proc.stderr, module.read_bytes()


@pytest.mark.slow
def test_build_cache_end_to_end(tmp_path):
    """A second build of the same tree copies the first (neither Cython nor the compiler runs);
    a changed .pxi, a switch or HOLOGRAM_NO_BUILD_CACHE=1 builds anew. Compiled at -O0."""
    setup = _setup_module()
    tree = tmp_path / "src"
    _copy_sources(setup, tree)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tree / name)
    for path in PKG.rglob("*"):
        rel = path.relative_to(ROOT)
        if path.is_file() and path.suffix in (".py", ".pyi", ".hasm", ".typed") \
                and "__pycache__" not in rel.parts:
            (tree / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, tree / rel)
    cache = tree / "build" / "ext-cache"

    log, first = _build_inplace(tree)
    assert "Cythonizing" in log and "reusing" not in log
    assert len(list(cache.iterdir())) == 1
    # Without the cache, a build runs Cython and the compiler even on an unchanged tree (dates
    # do not tell which switches the C and the module in build/ were made with).
    log, _ = _build_inplace(tree, HOLOGRAM_NO_BUILD_CACHE="1")
    assert "reusing" not in log and "Cythonizing" in log and len(list(cache.iterdir())) == 1
    shutil.rmtree(tree / "build" / "hologram")       # the generated C: a hit needs none of it
    log, second = _build_inplace(tree)
    assert "hologram: reusing the extension built before" in log and "Cythonizing" not in log
    assert second == first
    assert (tree / "hologram" / "_build_info.json").is_file()

    pxi = sorted((tree / "hologram").glob("_vm_*.pxi"))[0]
    pxi.write_text(pxi.read_text() + "\n# changed\n")
    log, _ = _build_inplace(tree)
    assert "reusing" not in log and "Cythonizing" in log
    assert len(list(cache.iterdir())) == 2


def test_sdist_never_ships_the_build_cache(tmp_path):
    """An sdist made in a tree with a cache entry (and the generated C) leaves both out."""
    setup = _setup_module()
    tree = tmp_path / "src"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis",
        "*.so", "*.pyd"))
    cache = Path(setup["CACHE_DIR"]).relative_to(ROOT)
    entry = tree / cache / ("0" * 32)
    entry.mkdir(parents=True)
    (entry / "_core.so").write_bytes(b"\0")
    (entry / "_build_info.json").write_text("{}")
    (tree / "build" / "hologram").mkdir()
    (tree / "build" / "hologram" / "_core.c").write_text("/* generated */")
    proc = subprocess.run([sys.executable, "setup.py", "-q", "sdist", "--formats=tar",
                           "-d", str(tmp_path / "dist")], cwd=tree, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    import tarfile
    (archive,) = (tmp_path / "dist").glob("hologram-*.tar")
    with tarfile.open(archive) as tar:
        names = [n.split("/", 1)[1] for n in tar.getnames() if "/" in n]
    assert "setup.py" in names and "hologram/_core.pyx" in names
    assert not [n for n in names if n.startswith(("build/", cache.as_posix()))
                or "0" * 32 in n or n.endswith((".c", ".so"))]
