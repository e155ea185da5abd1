"""Build the example extension against the installed densecore's .pxd files."""
import densecore
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("twolayer", ["twolayer.pyx"])],
        # Cython searches sys.path too; the explicit path serves builds that hide it.
        include_path=[densecore.get_include()],
        compiler_directives={"language_level": 3},
    ),
)
