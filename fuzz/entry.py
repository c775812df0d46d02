"""Start atheris on one target of :mod:`fuzz.harnesses` (used by the fuzz_*.py scripts).

Only kmzcodec and the spec oracle are instrumented for coverage: numpy, Pillow and
scikit-learn would slow every run down without telling the fuzzer anything about
our code. The modules whose functions numba compiles are left out too: numba
cannot compile bytecode that atheris has instrumented (it calls into atheris).
"""

from __future__ import annotations

import sys

#: kmzcodec modules with numba kernels: never instrumented (tests/test_fuzz_replay.py checks the list).
COMPILED_MODULES = (
    "kmzcodec._kernels",
    "kmzcodec._paeth",
    "kmzcodec._plusplus",
    "kmzcodec._sums",
    "kmzcodec._walk",
    "kmzcodec.deflate",
    "kmzcodec.diffusion",
    "kmzcodec.dithermap",
    "kmzcodec.jit",
    "kmzcodec.ratedistortion",
)


def main(target: str) -> None:
    import atheris  # only here: the harnesses themselves run without it

    with atheris.instrument_imports(include=["kmzcodec", "fuzz.reference"], exclude=list(COMPILED_MODULES)):
        from fuzz import harnesses

    atheris.Setup(sys.argv, harnesses.TARGETS[target])
    atheris.Fuzz()
