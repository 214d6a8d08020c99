"""Build the hologram._core extension: an OpenMP probe with a serial fallback.

Environment switches:
  HOLOGRAM_NO_OPENMP=1       build the serial core on purpose
  HOLOGRAM_REQUIRE_OPENMP=1  fail if the compiler cannot build OpenMP code
  HOLOGRAM_CYTHON_DEBUG=1    bounds checks on (a debugging build)
  HOLOGRAM_ANNOTATE=1        write build/hologram/_core.html (cython -a)
  HOLOGRAM_SANITIZE=1        build with AddressSanitizer + UndefinedBehaviorSanitizer
  HOLOGRAM_NO_BUILD_CACHE=1  neither reuse nor store a build in build/ext-cache

OpenMP flags per compiler: MSVC /openmp (no link flag; vcomp140.dll); macOS clang
-Xpreprocessor -fopenmp with -lomp (Homebrew's libomp on CFLAGS/LDFLAGS), else -fopenmp
(a GCC on macOS); GCC/clang elsewhere -fopenmp. Only portable flags: never -march=native.
What the build chose is written to hologram/_build_info.json (read by hologram.show_config()).

Build cache: pip builds an editable install in temporary folders and its isolated build
environment installs a fresh Cython each time (newer than the generated C, so Cython runs
again), so every `pip install -e .` used to recompile the extension from scratch. Each build
therefore stores the compiled module and its build info in build/ext-cache/KEY/, KEY a hash
of everything the module is made from (see build_inputs()), and a later build with the same
key copies them instead of running Cython and the compiler. `build_ext --force` rebuilds.
"""

import glob
import hashlib
import json
import os
import platform
import shutil
import sys
import sysconfig
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
from distutils import log    # setuptools' own copy of distutils (imported above) on every Python

BUILD_INFO = "_build_info.json"
ROOT = os.path.dirname(os.path.abspath(__file__))
CACHE_DIR = os.path.join(ROOT, "build", "ext-cache")
CACHE_ENTRIES = 4                    # the most recently used builds kept (about 3 MB each)
SOURCE_SUFFIXES = (".pyx", ".pxi", ".pxd", ".h")
# Besides HOLOGRAM_*: what compilers, linkers and the platform's build read from the
# environment (compiler search paths pick the OpenMP header and runtime).
BUILD_ENV = ("CC", "CXX", "CFLAGS", "CPPFLAGS", "LDFLAGS", "LDSHARED", "AR", "ARFLAGS",
             "ARCHFLAGS", "CPATH", "C_INCLUDE_PATH", "LIBRARY_PATH", "INCLUDE", "LIB",
             "MACOSX_DEPLOYMENT_TARGET", "SDKROOT", "_PYTHON_HOST_PLATFORM")

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


def _digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def extension_sources(root):
    """setup.py and every Cython/C source under hologram/ (paths relative to root): the files
    whose change must rebuild the extension."""
    found = ["setup.py"]
    for folder, dirs, files in os.walk(os.path.join(root, "hologram")):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        found += [os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/")
                  for name in sorted(files) if name.endswith(SOURCE_SUFFIXES)]
    return found


def _compiler_identity(compiler):
    """The compiler's configured commands (CC, CFLAGS, LDFLAGS... already applied by
    sysconfig), search paths, and its executable's path, size and date (an upgrade rebuilds)."""
    attrs = ("compiler_type", "compiler_so", "linker_so", "cc", "linker", "compile_options",
             "ldflags_shared", "include_dirs", "library_dirs", "libraries", "macros")
    ident = {a: getattr(compiler, a) for a in attrs if getattr(compiler, a, None)}
    cmd = ident.get("compiler_so") or [ident.get("cc", "")]
    exe = shutil.which(cmd[0]) if cmd and cmd[0] else None
    if exe:
        st = os.stat(exe)
        ident["executable"] = [os.path.realpath(exe), st.st_size, st.st_mtime_ns]
    return ident


def build_inputs(root, environ, compiler=None, ext_args=None):
    """Everything the compiled module is made from: the sources' contents, the HOLOGRAM_*
    switches and the compiler environment, the compiler and the extension's flags, the Cython
    directives, and the Cython and Python versions and platform. numpy is not an input (the core
    compiles against no numpy header)."""
    return {
        "sources": {rel: _digest(os.path.join(root, rel)) for rel in extension_sources(root)},
        "switches": {k: v for k, v in sorted(environ.items())
                     if k.startswith("HOLOGRAM_") and k != "HOLOGRAM_NO_BUILD_CACHE"},
        "environment": {k: environ[k] for k in BUILD_ENV if k in environ},
        "compiler": _compiler_identity(compiler) if compiler is not None else None,
        "extension": ext_args,
        "directives": DIRECTIVES,
        "cython": Cython.__version__,
        "python": [sys.version, sys.implementation.cache_tag, getattr(sys, "abiflags", ""),
                   sysconfig.get_config_var("EXT_SUFFIX"), sysconfig.get_platform()],
    }


EXTENSION_ATTRS = ("name", "sources", "depends", "include_dirs", "define_macros", "undef_macros",
                   "libraries", "library_dirs", "runtime_library_dirs", "extra_objects",
                   "extra_compile_args", "extra_link_args", "export_symbols", "language",
                   "py_limited_api")


def cache_key(inputs):
    """A short hash of build_inputs()."""
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


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
        args = {"define_macros": [("CYTHON_INLINE", force_inline)],
                "extra_compile_args": strict + san + (flags[0] if flags else []),
                "extra_link_args": san + (flags[1] if flags else [])}
        use_cache = not _flag("HOLOGRAM_NO_BUILD_CACHE")
        if use_cache:
            ext_args = [[{a: getattr(ext, a, None) for a in EXTENSION_ATTRS}, args]
                        for ext in self.extensions]
            key = cache_key(build_inputs(ROOT, os.environ, self.compiler, ext_args))
            if not self.force and self._restore(key):
                return
        # Cython runs only now: a build restored from the cache needs neither it nor the C.
        # Not restored, everything is rebuilt: the C in build/ and a module in the build folder
        # may be up to date by their dates yet made with other directives, switches or flags.
        self.force = True
        generated = cythonize(self.extensions, compiler_directives=DIRECTIVES, build_dir="build",
                              annotate=_flag("HOLOGRAM_ANNOTATE"), force=True)
        for ext, c_ext in zip(self.extensions, generated):
            ext.sources = c_ext.sources                  # the generated C
            ext.define_macros += args["define_macros"]
            ext.extra_compile_args += args["extra_compile_args"]
            ext.extra_link_args += args["extra_link_args"]
        super().build_extensions()
        self._write_build_info(flags)
        if use_cache:
            self._store(key)

    def _built_files(self):
        """(path in the build folder, name in a cache entry) of the module and its build info."""
        module = self.get_ext_fullpath(self.extensions[0].name)
        info = os.path.join(os.path.dirname(module), BUILD_INFO)
        return [(module, os.path.basename(module)), (info, BUILD_INFO)]

    def _restore(self, key):
        """Copy a cached build of this key into the build folder; False if there is none (or
        it cannot be read: then the build runs as if there were no cache)."""
        entry = os.path.join(CACHE_DIR, key)
        try:
            for path, name in self._built_files():
                os.makedirs(os.path.dirname(path), exist_ok=True)
                shutil.copy2(os.path.join(entry, name), path)
            os.utime(entry)                              # most recently used: evicted last
        except OSError:
            return False
        log.info(f"hologram: reusing the extension built before (build cache {key}; "
                 f"HOLOGRAM_NO_BUILD_CACHE=1 or build_ext --force rebuilds)")
        return True

    def _store(self, key):
        """Keep this build in the cache, best effort (written aside, then renamed: a concurrent
        build sees a whole entry or none), and drop the least recently used beyond
        CACHE_ENTRIES."""
        tmp = None
        try:
            os.makedirs(CACHE_DIR, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".tmp-", dir=CACHE_DIR)
            for path, name in self._built_files():
                shutil.copy2(path, os.path.join(tmp, name))
            os.replace(tmp, os.path.join(CACHE_DIR, key))
            entries = sorted((e for e in os.scandir(CACHE_DIR)
                              if e.is_dir() and not e.name.startswith(".")),
                             key=lambda e: e.stat().st_mtime)
        except OSError:       # read-only tree, no space, an entry of this key appeared meanwhile
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
            return
        for old in entries[:-CACHE_ENTRIES]:
            shutil.rmtree(old.path, ignore_errors=True)

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

if __name__ == "__main__":            # also under pip (setuptools runs setup.py as __main__)
    setup(
        # _core.pyx includes the hologram/_vm_*.pxi files (one of them generated from the ISA
        # table by hologram/_vmgen.py and committed): a change to any of them rebuilds.
        ext_modules=[Extension("hologram._core", ["hologram/_core.pyx"], include_dirs=["hologram"],
                               depends=["hologram/_vmhelpers.h", "hologram/_openmp.pxd",
                                        *sorted(glob.glob("hologram/_vm_*.pxi"))])],
        cmdclass={"build_ext": BuildExt},
    )
