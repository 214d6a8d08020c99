"""hologram: run Atlas ISA kernels on CPU cores."""
from .errors import *  # noqa: F401,F403
from .isa import DType, Instruction
from .program import Program
from .text import assemble
