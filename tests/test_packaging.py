"""Packaging and documentation: the generated ISA reference is current, show_config, build info,
version metadata. Checks that need the source tree skip when the tests run elsewhere (against
an installed wheel)."""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest

import hologram as hg
from hologram._config import build_info, config

ROOT = Path(__file__).resolve().parent.parent


def _source_file(*parts: str) -> Path:
    path = ROOT.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{'/'.join(parts)} not available (tests run outside the source tree)")
    return path


def test_reference_md_is_generated_from_the_isa_table():
    """docs/reference.md is exactly what `python -m hologram isa-reference` writes; regenerate
    it with `python -m hologram isa-reference -o docs/reference.md` after changing isa.py."""
    from hologram._isadoc import render_reference
    from hologram.isa import SPECS
    committed = _source_file("docs", "reference.md").read_text(encoding="utf-8")
    assert committed == render_reference(), (
        "docs/reference.md is out of date: run python -m hologram isa-reference -o "
        "docs/reference.md")
    for spec in SPECS:
        assert f"`{spec.variant}`" in committed


def test_show_config_prints_the_essentials():
    buf = io.StringIO()
    hg.show_config(file=buf)
    text = buf.getvalue()
    import numpy as np
    assert text.startswith(f"hologram {hg.__version__}\n")
    assert f"numpy:            {np.__version__}" in text
    assert ("OpenMP:           enabled" if hg.openmp_enabled() else "disabled: serial") in text
    assert f"default:          {hg.effective_num_threads()} " in text
    assert "python:" in text and "platform:" in text


def test_show_config_follows_threadpool_limits():
    if not hg.openmp_enabled():
        pytest.skip("built without OpenMP")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        c = config()
        assert c["default_num_threads"] == 1
        assert c["openmp_runtimes"], "threadpoolctl sees no OpenMP runtime"
        assert all(rt["num_threads"] == 1 for rt in c["openmp_runtimes"])
    assert config()["default_num_threads"] == hg.effective_num_threads()


def test_build_info_agrees_with_the_module():
    info = build_info()
    if not info:
        pytest.skip("no _build_info.json (built without setup.py's build_ext)")
    assert info["openmp"] == hg.openmp_enabled()
    if info["openmp"]:
        assert info["openmp_compile_args"]
        assert all(f in info["extra_compile_args"] for f in info["openmp_compile_args"])
    for flag in ("-march=native", "-mtune=native", "-ffast-math"):
        assert flag not in info["extra_compile_args"], "wheels get portable flags only"


def test_version_matches_pyproject():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib needs Python 3.11")
    import tomllib
    data = tomllib.loads(_source_file("pyproject.toml").read_text(encoding="utf-8"))
    if "project" not in data:
        pytest.skip("not the project's pyproject.toml")
    assert data["project"]["version"] == hg.__version__
    assert data["project"]["scripts"]["hologram"] == "hologram.cli:main"


def test_changelog_has_the_current_version():
    text = _source_file("CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(rf"^## {re.escape(hg.__version__)}\b", text, re.M)


def test_typing_files_are_shipped_beside_the_package():
    pkg = Path(hg.__file__).resolve().parent
    assert (pkg / "py.typed").is_file()
    assert (pkg / "_core.pyi").is_file()
