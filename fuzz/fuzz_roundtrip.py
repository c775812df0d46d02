"""atheris harness: encode -> decode round trips of small images and options derived from the input.

    python fuzz/fuzz_roundtrip.py CORPUS_DIR [SEED_DIR ...] -dict=fuzz/kmz.dict [libFuzzer flags]

fuzz/run.py runs it with a time bound; the target itself is fuzz.harnesses.roundtrip_target.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: "import fuzz"

from fuzz.entry import main  # noqa: E402

if __name__ == "__main__":
    main("roundtrip")
