"""The VM's per-instruction code is generated from the instruction table (hologram/_vmgen.py
writes hologram/_vm_ops.pxi): it is current, the compiled opcodes match the table, a table row
without its VM semantics cannot be generated, and an opcode the VM has no code for faults
with an internal error instead of running something else."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

import hologram as hg
from hologram import _core, _vmgen, faults, vm
from hologram.isa import T_FLOAT, CSem, Spec
from hologram.launch import raise_fault

ROOT = Path(__file__).resolve().parent.parent
SPECS = _vmgen.SPECS        # the table the VM's code is generated from


def test_generated_vm_ops_is_current():
    """After changing hologram/isa.py, regenerate with `python -m hologram._vmgen`."""
    path = ROOT / "hologram" / "_vm_ops.pxi"
    if not path.is_file():
        pytest.skip("source tree not available (installed package)")
    assert path.read_text(encoding="utf-8") == _vmgen.render(), \
        "hologram/_vm_ops.pxi is out of date: run python -m hologram._vmgen"
    assert _vmgen.main(["--check", "-o", str(path)]) == 0


def test_compiled_opcodes_match_the_table():
    """The extension was built from the current table: names and numbers, in table order."""
    assert list(_core.OPCODES) == [s.variant for s in SPECS]
    assert list(_core.OPCODES.values()) == list(range(len(SPECS)))
    assert _core.NUM_OPS == len(SPECS)


def test_compiled_fault_codes_match_the_table():
    assert list(_core.FAULT_CODES) == list(faults.NAMES)
    assert list(_core.FAULT_CODES.values()) == list(range(len(faults.NAMES)))
    assert len(faults.CLASSES) == len(faults.NAMES)


def _with_spec(monkeypatch, spec: Spec) -> None:
    monkeypatch.setattr(_vmgen, "SPECS", SPECS + (spec,))


def test_a_new_instruction_changes_the_generated_code(monkeypatch):
    """Adding a row to the table changes _vm_ops.pxi: forgetting to regenerate fails
    test_generated_vm_ops_is_current (and the rebuilt extension then fails the opcode test)."""
    before = _vmgen.render()
    exp = next(s for s in SPECS if s.variant == "EXP")
    _with_spec(monkeypatch, dataclasses.replace(exp, variant="EXPM1",
                                                text=exp.text.replace("exp", "expm1", 1),
                                                sem=CSem(floats="expm1f/expm1")))
    after = _vmgen.render()
    assert after != before
    assert "OP_EXPM1" in after and "expm1f(a)" in after and "exec_expm1(" in after


@pytest.mark.parametrize("sem", [None, CSem(), CSem(ints="int_abs")],
                         ids=["no sem", "empty sem", "ints only"])
def test_an_element_wise_row_without_float_semantics_cannot_be_generated(monkeypatch, sem):
    exp = next(s for s in SPECS if s.variant == "EXP")
    _with_spec(monkeypatch, dataclasses.replace(exp, variant="EXPM1", sem=sem))
    with pytest.raises(_vmgen.GenerationError, match="EXPM1"):
        _vmgen.render()


def test_integer_types_need_integer_semantics(monkeypatch):
    add = next(s for s in SPECS if s.variant == "ADD")
    _with_spec(monkeypatch, dataclasses.replace(add, variant="ADD2", sem=CSem(floats="+")))
    with pytest.raises(_vmgen.GenerationError, match="ADD2.*integer"):
        _vmgen.render()


def test_an_unknown_family_cannot_be_generated(monkeypatch):
    exit_ = next(s for s in SPECS if s.variant == "EXIT")
    _with_spec(monkeypatch, dataclasses.replace(exit_, variant="HALT", family="halt"))
    with pytest.raises(_vmgen.GenerationError, match="HALT.*family"):
        _vmgen.render()


def test_every_element_wise_arm_covers_exactly_the_allowed_types():
    for spec in SPECS:
        if spec.family in _vmgen.ELEMENTWISE:
            covered = [t for types, _, _ in _vmgen._arms(spec) for t in types]
            assert sorted(covered) == sorted(spec.types), spec.variant
    assert {t for s in SPECS if s.variant == "EXP" for t in s.types} == T_FLOAT


# ---- the internal-fault path: reachable only by a bug, simulated with corrupt rows


def _run_rows(program: hg.Program, edit) -> tuple:
    """Lower `program`, let `edit` corrupt its code rows, run one block of 4 lanes."""
    low = vm.lower(program)
    prepared = vm.checked_code(low, ())
    code = low.code.copy()
    edit(code)
    table = np.zeros((1, 4), np.int32)
    bad = _core.Prepared(code, table, low.nslots, low.nregs, low.sreg_slot, low.uses_calls,
                         False, False, 1, np.ones(max(low.nslots, 1), np.uint8), False)
    assert prepared is not bad
    be = hg.CpuBackend(num_threads=1)
    engine = _core.Engine(be._pools, be.boundary)
    return engine.run(bad, (1, 1, 1), (4, 1, 1), 0, None, _core.HostTable({}), [], [], 1)


OP, TY = _core.LAYOUT["C_OP"], _core.LAYOUT["C_TY"]


@pytest.mark.parametrize("column, value", [
    (OP, len(SPECS)),            # an opcode past the table
    (OP, -1),
    (TY, 99),                    # add with a type it has no loop for
])
def test_a_row_the_vm_has_no_code_for_faults_internally(column, value):
    program = hg.assemble("mov_imm.f32 r1, 1.0\nadd.f32 r2, r1, r1\nexit")

    def edit(code):
        code[1, column] = value

    result = _run_rows(program, edit)
    assert result is not None
    code, lane, pc = result[:3]
    assert (code, lane, pc) == (faults.INTERNAL, 0, 1)
    fault = faults.Fault(code, lane, pc, tuple(int(d) & (2**64 - 1) for d in result[3:]))
    with pytest.raises(hg.ExecutionError, match="internal error of the VM") as exc:
        raise_fault(program, (1, 1, 1), (4, 1, 1), fault)
    assert type(exc.value) is hg.ExecutionError


def test_an_atomic_op_out_of_range_faults_internally():
    program = hg.assemble("mov_imm.u64 r1, 0\nmov_imm.u32 r2, 1\n"
                          "atom.add.u32 r3, [r1 + 0], r2\nexit")

    def edit(code):
        code[2, _core.LAYOUT["C_TY2"]] = 42

    assert _run_rows(program, edit)[:3] == (faults.INTERNAL, 0, 2)
