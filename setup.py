"""Build the Cython extensions; the metadata lives in pyproject.toml.

The compiler directives are set here and nowhere else.  DENSECORE_DEBUG=1 at
build time turns bounds and initialisation checks on (for testing the kernels).
OpenMP (densecore's thread team) is used where a tiny OpenMP program compiles
and links with the compiler setuptools picked; elsewhere the team is one thread.
GCC and Clang build with -fno-math-errno: densecore never reads errno, and a
sqrt that may set it stays a call per value, which keeps a loop such as Adam's
update from vectorising.
"""
import os
import tempfile
from pathlib import Path

import numpy
from Cython.Distutils import build_ext
from setuptools import Extension, setup

DEBUG = os.environ.get("DENSECORE_DEBUG", "") not in ("", "0")

DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": False,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

MODULES = ["kernels", "_core", "_train"]

# numpy's headers, for the modules that cimport numpy (harmless to the others),
# without its deprecated API.
NUMPY = dict(include_dirs=[numpy.get_include()],
             define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")])


def _mode_changed(build_temp):
    """Record this build's DENSECORE_DEBUG in build_temp; return whether it differs."""
    stamp = Path(build_temp) / "densecore-debug"
    changed = not stamp.is_file() or stamp.read_text() != str(DEBUG)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(str(DEBUG))
    return changed


OPENMP_FLAG = "/openmp" if os.name == "nt" else "-fopenmp"

OPENMP_PROBE = """
#include <omp.h>
int main(void) {
    int team = 0;
    #pragma omp parallel reduction(+:team)
    team += 1;
    return team < 1 || omp_get_max_threads() < 1;
}
"""


def _openmp_compiles(compiler):
    """Whether ``compiler`` compiles and links a small OpenMP program with OPENMP_FLAG."""
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "probe.c"
        source.write_text(OPENMP_PROBE)
        try:
            objects = compiler.compile([str(source)], output_dir=folder,
                                       extra_postargs=[OPENMP_FLAG])
            compiler.link_executable(objects, "probe", output_dir=folder,
                                     extra_postargs=[OPENMP_FLAG])
        except Exception:  # CompileError, LinkError, a missing compiler: no OpenMP
            return False
    return True


class BuildExt(build_ext):
    """Cython's build_ext with the directives above and the C files out of the source tree."""

    def finalize_options(self):
        super().finalize_options()
        self.cython_directives = {**DIRECTIVES, **self.cython_directives}
        self.cython_c_in_temp = True

    def run(self):
        # Cython and the compiler rebuild by timestamps alone, blind to a
        # switch of DENSECORE_DEBUG since the last build in this tree.
        self.force = self.force or _mode_changed(self.build_temp)
        super().run()

    def build_extensions(self):
        if self.compiler.compiler_type in ("unix", "mingw32"):  # GCC or Clang
            for extension in self.extensions:
                extension.extra_compile_args.append("-fno-math-errno")
        if _openmp_compiles(self.compiler):
            print(f"densecore: OpenMP found ({OPENMP_FLAG}): the thread team is built")
            for extension in self.extensions:
                extension.extra_compile_args.append(OPENMP_FLAG)
                extension.extra_link_args.append(OPENMP_FLAG)
        else:
            print("densecore: the compiler has no OpenMP: built serial, one thread")
        super().build_extensions()


setup(
    ext_modules=[
        Extension(f"densecore.{name}", [f"densecore/{name}.pyx"], **NUMPY) for name in MODULES
    ],
    cmdclass={"build_ext": BuildExt},
)
