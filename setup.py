"""Build the hologram._core extension: an OpenMP probe with a serial fallback.

Environment switches:
  HOLOGRAM_NO_OPENMP=1       build the serial core on purpose
  HOLOGRAM_REQUIRE_OPENMP=1  fail if the compiler cannot build OpenMP code
  HOLOGRAM_CYTHON_DEBUG=1    bounds checks on (a debugging build)
  HOLOGRAM_ANNOTATE=1        write build/hologram/_core.html (cython -a)
  HOLOGRAM_SANITIZE=1        build with AddressSanitizer + UndefinedBehaviorSanitizer
"""

import os
import sys
import tempfile
import warnings

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.errors import CompileError, LinkError
except ImportError:  # setuptools < 59
    from distutils.errors import CompileError, LinkError

PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += omp_get_num_threads() > 0;
    return n > 0 ? 0 : 1;
}
"""


def _flag(name):
    return os.environ.get(name, "") not in ("", "0")


def openmp_flags(compiler_type):
    """(compile_args, link_args) for OpenMP, or None when switched off."""
    if _flag("HOLOGRAM_NO_OPENMP"):
        return None
    if compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":          # Apple clang with libomp on CFLAGS/LDFLAGS
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


class BuildExt(build_ext):
    def build_extensions(self):
        ctype = self.compiler.compiler_type
        flags = openmp_flags(ctype)
        if flags and not self._probe(*flags):
            if _flag("HOLOGRAM_REQUIRE_OPENMP"):
                raise CompileError("OpenMP requested (HOLOGRAM_REQUIRE_OPENMP) but unusable")
            warnings.warn("OpenMP unusable with this compiler; building the serial core")
            flags = None
        # IEEE semantics: never contract a*b+c into an FMA (MAD rounds twice, ISA.md 5.2).
        strict = ["/fp:precise"] if ctype == "msvc" else ["-ffp-contract=off", "-fno-math-errno"]
        san = []
        if _flag("HOLOGRAM_SANITIZE") and ctype != "msvc":
            san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
                   "-fno-sanitize-recover=undefined"]
        # `cdef inline` helpers are written to be specialised by constant arguments at their
        # call sites; that needs them inlined even when the compiler's heuristics would not.
        force_inline = "__forceinline" if ctype == "msvc" else "inline __attribute__((always_inline))"
        for ext in self.extensions:
            ext.define_macros.append(("CYTHON_INLINE", force_inline))
            ext.extra_compile_args += strict + san + (flags[0] if flags else [])
            ext.extra_link_args += san + (flags[1] if flags else [])
        super().build_extensions()

    def _probe(self, cflags, lflags):
        """Compile and link (not run) a tiny OpenMP program with the real compiler."""
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write(PROBE)
            try:
                objs = self.compiler.compile([src], output_dir=tmp, extra_postargs=cflags)
                self.compiler.link_executable(objs, "probe", output_dir=tmp, extra_postargs=lflags)
            except (CompileError, LinkError):
                return False
        return True


DEBUG = _flag("HOLOGRAM_CYTHON_DEBUG")
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "nonecheck": False,
    "cdivision": True,
    "embedsignature": True,
}

setup(
    ext_modules=cythonize(
        [Extension("hologram._core", ["hologram/_core.pyx"], include_dirs=["hologram"],
                   depends=["hologram/_vmhelpers.h", "hologram/_openmp.pxd"])],
        compiler_directives=DIRECTIVES,
        build_dir="build",
        annotate=_flag("HOLOGRAM_ANNOTATE"),
    ),
    cmdclass={"build_ext": BuildExt},
)
