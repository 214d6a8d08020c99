"""Build the hologram._core extension: an OpenMP probe with a serial fallback.

Environment switches:
  HOLOGRAM_NO_OPENMP=1       build the serial core on purpose
  HOLOGRAM_REQUIRE_OPENMP=1  fail if the compiler cannot build OpenMP code
  HOLOGRAM_CYTHON_DEBUG=1    bounds checks on (a debugging build)
  HOLOGRAM_ANNOTATE=1        write build/hologram/_core.html (cython -a)
  HOLOGRAM_SANITIZE=1        build with AddressSanitizer + UndefinedBehaviorSanitizer

OpenMP flags per compiler: MSVC /openmp (no link flag; vcomp140.dll); macOS clang
-Xpreprocessor -fopenmp with -lomp (Homebrew's libomp on CFLAGS/LDFLAGS), else -fopenmp
(a GCC on macOS); GCC/clang elsewhere -fopenmp. Only portable flags: never -march=native.
What the build chose is written to hologram/_build_info.json (read by hologram.show_config()).
"""

import glob
import json
import os
import platform
import sys
import tempfile
import warnings

import Cython

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

try:
    from setuptools.errors import CompileError, LinkError
except ImportError:  # setuptools < 59
    from distutils.errors import CompileError, LinkError

BUILD_INFO = "_build_info.json"

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


def openmp_candidates(compiler_type):
    """(compile_args, link_args) pairs to try in order, for this compiler."""
    if compiler_type == "msvc":                 # also clang-cl; OpenMP 2.0 suffices for prange
        return [(["/openmp"], [])]
    if sys.platform == "darwin":                # Apple clang + libomp, then a real GCC
        return [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    return [(["-fopenmp"], ["-fopenmp"])]      # GCC, clang, mingw32


class BuildExt(build_ext):
    def build_extensions(self):
        ctype = self.compiler.compiler_type
        flags = None
        if not _flag("HOLOGRAM_NO_OPENMP"):
            flags = next((f for f in openmp_candidates(ctype) if self._probe(*f)), None)
            if flags is None:
                if _flag("HOLOGRAM_REQUIRE_OPENMP"):
                    raise CompileError("OpenMP requested (HOLOGRAM_REQUIRE_OPENMP=1) but this "
                                       "compiler cannot build OpenMP code")
                warnings.warn("OpenMP unusable with this compiler; building the serial core "
                              "(launches run on one thread). On macOS: brew install libomp and "
                              "put its include/lib folders on CFLAGS/LDFLAGS.")
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
        self._write_build_info(flags)

    def _write_build_info(self, flags):
        """Record what this build chose, beside the extension (and in the source package for
        in-place and editable builds), for hologram.show_config()."""
        ext = self.extensions[0]
        info = {
            "openmp": flags is not None,
            "openmp_compile_args": list(flags[0]) if flags else [],
            "openmp_link_args": list(flags[1]) if flags else [],
            "compiler_type": self.compiler.compiler_type,
            "compiler": os.path.basename((getattr(self.compiler, "compiler_so", None) or
                                          [getattr(self.compiler, "cc", "")])[0]),
            "extra_compile_args": list(ext.extra_compile_args),
            "extra_link_args": list(ext.extra_link_args),
            "cflags_env": os.environ.get("CFLAGS", ""),
            "cython": Cython.__version__,
            "cython_debug": DEBUG,
            "python": platform.python_version(),
            "machine": platform.machine(),
        }
        path = os.path.join(os.path.dirname(self.get_ext_fullpath(ext.name)), BUILD_INFO)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(info, f, indent=1)
            f.write("\n")

    def copy_extensions_to_source(self):
        """In-place and editable builds: the build info goes beside the copied extension."""
        super().copy_extensions_to_source()
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions[:1]:
            inplace_file, regular_file = self._get_inplace_equivalent(build_py, ext)
            src = os.path.join(os.path.dirname(regular_file), BUILD_INFO)
            if os.path.exists(src):
                self.copy_file(src, os.path.join(os.path.dirname(inplace_file), BUILD_INFO),
                               level=self.verbose)

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
        # _core.pyx includes the hologram/_vm_*.pxi files (one of them generated from the ISA
        # table by hologram/_vmgen.py and committed): a change to any of them rebuilds.
        [Extension("hologram._core", ["hologram/_core.pyx"], include_dirs=["hologram"],
                   depends=["hologram/_vmhelpers.h", "hologram/_openmp.pxd",
                            *sorted(glob.glob("hologram/_vm_*.pxi"))])],
        compiler_directives=DIRECTIVES,
        build_dir="build",
        annotate=_flag("HOLOGRAM_ANNOTATE"),
    ),
    cmdclass={"build_ext": BuildExt},
)
