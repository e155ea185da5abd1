"""Build the Cython extensions; the metadata lives in pyproject.toml.

The compiler directives are set here and nowhere else.  DENSECORE_DEBUG=1 at
build time turns bounds and initialisation checks on (for testing the kernels).
"""
import os

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


class BuildExt(build_ext):
    """Cython's build_ext with the directives above and the C files out of the source tree."""

    def finalize_options(self):
        super().finalize_options()
        self.cython_directives = {**DIRECTIVES, **self.cython_directives}
        self.cython_c_in_temp = True


setup(
    ext_modules=[
        Extension(f"densecore.{name}", [f"densecore/{name}.pyx"]) for name in MODULES
    ],
    cmdclass={"build_ext": BuildExt},
)
