"""`make bench`: every benchmark, each printing its figures against a baseline measured in the same run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = ["portfolio.py", "rebuild.py", "writes.py"]


def main() -> int:
    failed = 0
    for name in BENCHES:
        print(f"== {name}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name), *sys.argv[1:]])
    return failed


if __name__ == "__main__":
    sys.exit(main())
