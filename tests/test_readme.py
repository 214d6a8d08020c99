"""Every Python code block of README.md runs as written.

The blocks run in order in one namespace (later blocks use what the quick start defined), in a
temporary working directory. A block that cannot run as written (an ``...`` placeholder, a name
defined nowhere) fails here.
"""

import os
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks(text: str):
    """(line number, source) of every ```python fenced block."""
    out = []
    for m in re.finditer(r"^```python\n(.*?)^```", text, re.S | re.M):
        out.append((text.count("\n", 0, m.start()) + 2, m.group(1)))
    return out


@pytest.mark.skipif(not README.exists(), reason="README.md is only in the source tree")
def test_readme_python_blocks_run(tmp_path, capsys):
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert blocks, "README.md has no python blocks"
    namespace = {"__name__": "__readme__"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for line, source in blocks:
            code = compile(source, f"README.md:{line}", "exec")
            exec(code, namespace)
    finally:
        os.chdir(cwd)
