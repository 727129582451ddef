"""Build hook (metadata is in pyproject.toml): ISTHMUS_COMPILE=1 compiles the hot path with Cython.

The list of modules is isthmus/_hot_path.py. Without ISTHMUS_COMPILE the package is pure Python
(development installs: a compiled module next to its .py would hide edits to it).
"""

import os
import runpy

from setuptools import setup


def ext_modules() -> list:
    if os.environ.get("ISTHMUS_COMPILE", "").lower() not in ("1", "true", "yes"):
        return []
    from Cython.Build import cythonize
    from setuptools import Extension

    modules = runpy.run_path(os.path.join("isthmus", "_hot_path.py"))["MODULES"]
    extensions = [Extension(m, [m.replace(".", "/") + ".py"]) for m in modules]
    return cythonize(
        extensions,
        compiler_directives={"language_level": 3, "annotation_typing": False},
        nthreads=os.cpu_count() or 1,
        quiet=True,
    )


setup(ext_modules=ext_modules())
