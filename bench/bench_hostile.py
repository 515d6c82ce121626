"""How long `kepubot check` takes on the three hostile documents of issue 8, before and after.

    .venv/bin/python bench/bench_hostile.py [--timeout 60] [--no-before]

Makes the documents (tests/test_checks_hostile.py's makers): a 64 KB .md of one line of "[", a .docx
of ~0.5 MB whose document.xml unpacks to 64 MiB, a PDF of 3,000 pages sharing one content stream.
Then runs `python -m bot check FILE -c article` as a fresh process on each: "after" in this work tree,
"before" in a scratch copy of `git show HEAD:` (git archive HEAD), with a timeout ("> 60 s" when it
runs out) and a 3 GB address-space limit (the old code took 4.4 GB on the .docx: "out of memory").
Prints each document's time, exit code and verdict line.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_checks_hostile import (  # noqa: E402
    make_bracket_markdown,
    make_docx_bomb,
    make_shared_stream_pdf,
)


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def run(tree: Path, path: Path, timeout: float) -> str:
    started = time.perf_counter()
    try:
        out = subprocess.run([sys.executable, "-m", "bot", "check", str(path), "-c", "article"], cwd=tree,
                             capture_output=True, text=True, timeout=timeout, preexec_fn=_limit)
    except subprocess.TimeoutExpired:
        return f"> {timeout:g} s"
    seconds = time.perf_counter() - started
    if "MemoryError" in out.stderr:
        return f"{seconds:.2f} s, out of memory (3 GB)"
    verdict = next((line for line in out.stdout.splitlines() if line.startswith(("❌", "⚠️"))), "")
    return f"{seconds:.2f} s, exit {out.returncode}: {verdict[:70]}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--no-before", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kepubot-hostile-") as tmp:
        folder = Path(tmp)
        docs = {
            "64 KB .md of '['": make_bracket_markdown(folder / "brackets.md"),
            ".docx → 64 MiB XML": make_docx_bomb(folder / "bomb.docx"),
            "PDF of 3,000 pages": make_shared_stream_pdf(folder / "pages.pdf"),
        }
        before = folder / "before"
        if not args.no_before:
            before.mkdir()
            archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
        for name, path in docs.items():
            size = path.stat().st_size
            print(f"{name} ({size / 1024:.0f} KB)")
            if not args.no_before:
                print(f"  before: {run(before, path, args.timeout)}")
            print(f"  after:  {run(ROOT, path, args.timeout)}")
        small = folder / "small.txt"
        small.write_text("科普" * 800, encoding="utf-8")
        times = []
        for _ in range(5):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bot", "check", str(small), "-c", "article"], cwd=ROOT,
                           capture_output=True, check=False)
            times.append(time.perf_counter() - started)
        print(f"cold start on a small .txt (after, best of 5): {min(times):.2f} s")


if __name__ == "__main__":
    main()
