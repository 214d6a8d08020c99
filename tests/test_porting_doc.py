"""Every Python code block of docs/porting-from-cuda.md runs as written: the ported kernels
compute on the VM, and the blocks' own asserts check them against numpy. The blocks run in
order in one namespace (later blocks use what earlier ones defined)."""

from pathlib import Path

import pytest
from threadpoolctl import threadpool_limits

from test_readme import python_blocks

PAGE = Path(__file__).resolve().parent.parent / "docs" / "porting-from-cuda.md"


@pytest.mark.skipif(not PAGE.exists(), reason="docs/ are only in the source tree")
@pytest.mark.parametrize("threads", [1, 2])
def test_porting_page_python_blocks_run(threads, capsys):
    blocks = python_blocks(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) == 3, "the page's two kernels and the parameter check"
    namespace = {"__name__": "__porting__"}
    with threadpool_limits(threads):      # the launches' default thread count
        for line, source in blocks:
            exec(compile(source, f"porting-from-cuda.md:{line}", "exec"), namespace)
    # the kernels ran: the reduction's sum and the transpose are in the namespace
    assert namespace["out"][0] > 0 and namespace["dst"].shape == (70, 100)
    assert "expected an array of float32, got float64" in capsys.readouterr().out
