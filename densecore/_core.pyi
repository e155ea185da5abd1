# _core has no Python-visible names: its pointer-level bodies are cimported by
# kernels and _train (see _core.pxd).
