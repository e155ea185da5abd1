"""Sphinx configuration for densecore's documentation.

Build from the repository root, against the installed package (``pip install
".[docs]"``): ``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""
from pathlib import Path

import densecore

project = "densecore"
author = "The densecore developers"
copyright = "The densecore developers, BSD 3-Clause"
release = version = densecore.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "matplotlib.sphinxext.plot_directive",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
# The README's anchors and the pages' own headings are linked by name.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
# numpydoc lists members itself; autosummary tables would repeat them.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# The pictures: drawn by the scripts under plots/ at every build, PNG only.
plot_formats = [("png", 100)]
plot_html_show_source_link = False
plot_html_show_formats = False
plot_include_source = False
# The scripts open their data files relative to docs/.
plot_working_directory = str(Path(__file__).parent)
plot_rcparams = {"figure.figsize": (7, 3.5)}



def skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out the members scikit-learn's base classes give the estimators
    (get_params, set_*_request, ...): scikit-learn documents them, and their
    docstrings link into its own documentation."""
    module = getattr(obj, "__module__", None) or ""
    if module and not module.startswith("densecore"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", skip_foreign_members)


html_theme = "pydata_sphinx_theme"
html_title = f"densecore {version}"
html_theme_options = {"navigation_with_keys": False}
