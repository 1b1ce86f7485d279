"""Build the compiled core: the matcher (ext/), the decision walk (engine/walk.py with its
record builder, engine/_records.pyx), the compiler's hot modules (the fast parser, the
checker, the normal forms and the stages, with engine/_untrack.pyx for quick construction),
the server's RESP packer (server/_resp.pyx), the Authorize answer's wire encoder
(server/service/_wire.pyx), the wallet store (server/wallets/store.py,
buckets.py) and the service's per-call modules.

Set ``TESSERA_DEBUG=1`` for a debug build (bounds checks, line tracing and an HTML
annotation beside each ``.pyx``) without touching the sources.
"""

import os

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

DEBUG = os.environ.get("TESSERA_DEBUG") == "1"
# The modules are translated to C and compiled on every core.
THREADS = os.cpu_count() or 1

directives = {
    "language_level": "3",
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
optimise = ["-O0", "-g"] if DEBUG else ["-O3"]
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
        extra_compile_args=optimise,
    ),
]

modules = cythonize(
    extensions, compiler_directives=directives, annotate=DEBUG,
    nthreads=THREADS, include_path=["ext"]
)
for module in modules:
    module.name = f"tessera.ext.{module.name}"

# The decision walk and the compiler's hot modules are plain Python modules that Cython
# compiles as they stand (the walk typed by the .pxd beside it); where an extension is not
# built, the same source imports as Python.  Compiled, they build a 10,000-rule programme
# about a third faster (the parse most: it is a Python call per token otherwise).
walk = cythonize(
    [
        Extension(name, [source], extra_compile_args=optimise)
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
    nthreads=THREADS,
    include_path=["engine"],
)
for module in walk:
    module.name = f"tessera.engine.{module.name}"

def cythonized(
    package: str, sources: tuple[tuple[str, str], ...], compiler_directives: dict
) -> list[Extension]:
    """Extensions of ``sources`` (name, file), compiled with ``compiler_directives`` and
    named into ``package``."""
    built = cythonize(
        [Extension(name, [source], extra_compile_args=optimise) for name, source in sources],
        compiler_directives=compiler_directives,
        annotate=DEBUG,
        nthreads=THREADS,
    )
    for module in built:
        module.name = f"{package}.{module.name}"
    return built


# The server's RESP packer, the Authorize request's reader and its answer's encoder, the
# wallets-hash parser, the member read's decoder and the authorise script's arguments,
# written for the project's (the matcher's) directives.
server = cythonized("tessera.server", (("_resp", "server/_resp.pyx"),), directives)
server += cythonized(
    "tessera.server.service",
    (("_wire", "server/service/_wire.pyx"), ("_request", "server/service/_request.pyx")),
    directives,
)
server += cythonized(
    "tessera.server.wallets",
    (
        ("_purses", "server/wallets/_purses.pyx"),
        ("_prepare", "server/wallets/_prepare.pyx"),
        ("_read", "server/wallets/_read.pyx"),
    ),
    directives,
)


def as_they_stand(folder: str, package: str, names: tuple[str, ...]) -> list[Extension]:
    """Plain Python modules that Cython compiles as they stand (the same sources import as
    Python where they are not built), keeping Python's own indexing and division: they are
    not written for the matcher's unchecked directives."""
    return cythonized(
        package,
        tuple((name, f"{folder}/{name}.py") for name in names),
        {"language_level": "3", "embedsignature": True},
    )


# The wallet store's hot path (with its key names, budget estimates and senders), the
# exchange of commands on a connection, the service's per-call Python (request and answer
# conversion, the servicers, the interceptors, its Redis client and its deadlines), and the
# engine's per-authorisation helpers (tier ratings, local times).  Each of these ran
# interpreted a few times an authorisation.
server += as_they_stand(
    "server/wallets", "tessera.server.wallets", ("store", "buckets", "keys", "estimates", "direct")
)
server += as_they_stand("server", "tessera.server", ("exchange",))
server += as_they_stand(
    "server/service",
    "tessera.server.service",
    ("convert", "servicers", "interceptors", "redis_client", "deadlines", "wire"),
)
server += as_they_stand("engine", "tessera.engine", ("tiers", "timezone"))

setup(
    ext_modules=modules + walk + server,
    options={"build_ext": {"parallel": THREADS}},
)
