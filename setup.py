"""Build the compiled core: the matcher (ext/), the decision walk (engine/walk.py with its
record builder, engine/_records.pyx) and the compiler's hot modules (the fast parser, the
checker, the normal forms and the stages, with engine/_untrack.pyx for quick construction).

Set ``TESSERA_DEBUG=1`` for a debug build (bounds checks, line tracing and an HTML
annotation beside each ``.pyx``) without touching the sources.
"""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("TESSERA_DEBUG") == "1"

directives = {
    "language_level": "3",
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
if DEBUG:
    directives["linetrace"] = True
    macros.append(("CYTHON_TRACE_NOGIL", "1"))

# The sources live in ext/ but install as tessera.ext.*: Cython is given the bare module
# name so that it finds the .pxd beside each .pyx, and setuptools the full one.
extensions = [
    Extension(
        "_match",
        ["ext/_match.pyx"],
        include_dirs=[np.get_include()],
        define_macros=macros,
        extra_compile_args=["-O0", "-g"] if DEBUG else ["-O3"],
    ),
]

modules = cythonize(
    extensions, compiler_directives=directives, annotate=DEBUG, include_path=["ext"]
)
for module in modules:
    module.name = f"tessera.ext.{module.name}"

# The decision walk and the compiler's hot modules are plain Python modules that Cython
# compiles as they stand (the walk typed by the .pxd beside it); where an extension is not
# built, the same source imports as Python.  Compiled, they build a 10,000-rule programme
# about a third faster (the parse most: it is a Python call per token otherwise).
walk = cythonize(
    [
        Extension(name, [source], extra_compile_args=["-O0", "-g"] if DEBUG else ["-O3"])
        for name, source in (
            ("walk", "engine/walk.py"),
            ("_fastparse", "engine/_fastparse.py"),
            ("checker", "engine/checker.py"),
            ("normal", "engine/normal.py"),
            ("compiler", "engine/compiler.py"),
            ("_records", "engine/_records.pyx"),
            ("_untrack", "engine/_untrack.pyx"),
        )
    ],
    compiler_directives=directives,
    annotate=DEBUG,
    include_path=["engine"],
)
for module in walk:
    module.name = f"tessera.engine.{module.name}"

setup(ext_modules=modules + walk)
