"""atheris harness: Image.open(BytesIO(data)).load() and verify() through the plugin, against kmzcodec.decode.

    python fuzz/fuzz_pillow.py CORPUS_DIR [SEED_DIR ...] -dict=fuzz/kmz.dict [libFuzzer flags]

fuzz/run.py runs it with a time bound; the target itself is fuzz.harnesses.pillow_target.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: "import fuzz"

from fuzz.entry import main  # noqa: E402

if __name__ == "__main__":
    main("pillow")
