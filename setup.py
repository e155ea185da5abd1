"""Build the Cython extensions; the metadata lives in pyproject.toml.

The compiler directives are set here and nowhere else.  DENSECORE_DEBUG=1 at
build time turns bounds and initialisation checks on (for testing the kernels).
"""
import os
from pathlib import Path

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


def _mode_changed(build_temp):
    """Record this build's DENSECORE_DEBUG in build_temp; return whether it differs."""
    stamp = Path(build_temp) / "densecore-debug"
    changed = not stamp.is_file() or stamp.read_text() != str(DEBUG)
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(str(DEBUG))
    return changed


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


setup(
    ext_modules=[
        Extension(f"densecore.{name}", [f"densecore/{name}.pyx"]) for name in MODULES
    ],
    cmdclass={"build_ext": BuildExt},
)
