"""Read py-spy's collapsed stacks (`py-spy record --threads --format raw`, or `bench/cpu.py --record`).

Prints, per thread, its share of the samples and the functions that take the most of them:
inclusive (on the stack) and self (at its top). `--match TEXT` keeps only stacks through a
frame containing TEXT.

Usage: python bench/stacks.py STACKS [--top 25] [--thread NAME] [--match TEXT]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

THREAD = re.compile(r"^thread \((\w+)\)(?:: \"?([^\"]*)\"?)?$")


def read(path: Path) -> dict[str, list[tuple[list[str], int]]]:
    """Stacks by thread name: (frames outermost first, samples)."""
    threads: dict[str, list[tuple[list[str], int]]] = defaultdict(list)
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        name = "?"
        if frames and frames[0].startswith("thread ("):
            head = frames.pop(0)
            match = THREAD.match(head)
            name = (match.group(2) or match.group(1)) if match else head
            name = re.sub(r"_\d+$", "", name)
            name = "worker threads (requests)" if name.startswith("AnyIO") else name
        if frames and frames[0].startswith("process "):
            frames.pop(0)
        threads[name].append((frames, int(count)))
    return threads


def short(frame: str) -> str:
    """`func (path/to/file.py:12)` as `func (file.py)`: one entry per function, not per line."""
    match = re.match(r"^(.*) \((.*?):\d+\)$", frame)
    if not match:
        return frame
    func, path = match.groups()
    parts = path.split("/")
    where = "/".join(parts[-2:]) if parts[-2:-1] and parts[-2] in ("projections", "api", "delivery", "web", "notify") \
        else parts[-1]
    return f"{func} ({where})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", help="only threads whose name contains this")
    parser.add_argument("--match", help="only stacks through a frame containing this")
    args = parser.parse_args(argv)
    threads = read(args.stacks)
    total = sum(n for stacks in threads.values() for _, n in stacks) or 1
    for name, stacks in sorted(threads.items(), key=lambda kv: -sum(n for _, n in kv[1])):
        if args.thread and args.thread not in name:
            continue
        if args.match:
            stacks = [(f, n) for f, n in stacks if any(args.match in frame for frame in f)]
        samples = sum(n for _, n in stacks)
        if not samples:
            continue
        print(f"\n== {name}: {samples:,} samples, {samples / total:.1%} of all")
        inclusive: Counter[str] = Counter()
        own: Counter[str] = Counter()
        for frames, n in stacks:
            for frame in {short(f) for f in frames}:
                inclusive[frame] += n
            if frames:
                own[short(frames[-1])] += n
        print("   incl%   self%  function")
        for frame, n in inclusive.most_common(args.top):
            print(f"  {n / samples:6.1%}  {own[frame] / samples:6.1%}  {frame}")
        print("  top by self:")
        for frame, n in own.most_common(max(5, args.top // 2)):
            print(f"  {inclusive[frame] / samples:6.1%}  {n / samples:6.1%}  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
