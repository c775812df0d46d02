"""Start atheris on one target of :mod:`fuzz.harnesses` (used by the fuzz_*.py scripts).

Only kmzcodec and the spec oracle are instrumented for coverage: numpy, Pillow and
scikit-learn would slow every run down without telling the fuzzer anything about
our code.
"""

from __future__ import annotations

import sys


def main(target: str) -> None:
    import atheris  # only here: the harnesses themselves run without it

    with atheris.instrument_imports(include=["kmzcodec", "fuzz.reference"]):
        from fuzz import harnesses

    atheris.Setup(sys.argv, harnesses.TARGETS[target])
    atheris.Fuzz()
