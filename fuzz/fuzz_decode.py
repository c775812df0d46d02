"""atheris harness: kmzcodec.decode against the spec's reference reading (fuzz/reference.py).

    python fuzz/fuzz_decode.py CORPUS_DIR [SEED_DIR ...] -dict=fuzz/kmz.dict [libFuzzer flags]

fuzz/run.py runs it with a time bound; the target itself is fuzz.harnesses.decode_target.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: "import fuzz"

from fuzz.entry import main  # noqa: E402

if __name__ == "__main__":
    main("decode")
