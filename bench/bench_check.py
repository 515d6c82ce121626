"""How long `check()` takes on a real-size video, beside the `mediainfo` command line.

    .venv/bin/python bench/bench_check.py [--runs 7] [--size-mb 300] [--cache DIR]

Makes (once, cached in DIR, default $TMPDIR/kepubot-bench) a ≥ 300 MB 1080p H.264 + AAC mp4 the
shape of a 5-minute work at 8 Mbit/s: 8 seconds (a band of noise over a flat picture) are encoded with libx264 (ultrafast,
CBR 8 Mbit/s) and that segment is re-muxed end to end with shifted timestamps until the file is big
enough, so generation takes seconds, not minutes, while the file has a real 5-minute sample table.

Then times, on that file:
  check()          in-process, median of --runs (the first call, which loads libmediainfo, apart)
  MediaInfo.parse  pymediainfo alone, the floor for check()
  mediainfo CLI    `mediainfo FILE` (Debian's package; installed with apt-get when missing)
  cold CLI         `python -m bot.checks FILE -c video` as a fresh process, median
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WIDTH, HEIGHT, FPS, SEGMENT_S, BITRATE = 1920, 1080, 25, 8, 8_000_000


def make_segment(path: Path) -> None:
    """2 s of 1080p noise at CBR 8 Mbit/s plus 2 s of AAC silence."""
    import av

    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.bit_rate = BITRATE
        kbit = BITRATE // 1000
        video.options = {
            "preset": "ultrafast",
            "x264-params": f"nal-hrd=cbr:vbv-maxrate={kbit}:vbv-bufsize={kbit}:keyint={FPS * SEGMENT_S}",
        }
        audio = out.add_stream("aac", rate=48000)
        audio.layout = "stereo"
        audio.bit_rate = 128_000
        for i in range(FPS * SEGMENT_S):
            frame = av.VideoFrame(WIDTH, HEIGHT, "yuv420p")
            for j, plane in enumerate(frame.planes):  # a band of noise on top, flat below
                noisy = plane.buffer_size // 16
                plane.update(
                    os.urandom(noisy) + bytes([(i * 5 + j * 60) % 256]) * (plane.buffer_size - noisy)
                )
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        done = 0
        while done < 48000 * SEGMENT_S:
            frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate, frame.pts = 48000, done
            out.mux(audio.encode(frame))
            done += 1024
        out.mux(audio.encode(None))


def remux_until(segment: Path, path: Path, min_bytes: int) -> int:
    """Concatenate the segment with itself (no re-encoding) until the file is ≥ min_bytes.
    Each copy is shifted by exactly SEGMENT_S seconds; a packet that would overlap the previous
    copy (the AAC encoder's padding) is dropped, so the file lasts repeats × SEGMENT_S."""
    import av

    repeats = math.ceil(min_bytes / segment.stat().st_size)
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(segment)) as src, av.open(str(tmp), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in src.streams}
        last_dts: dict[int, int] = {}
        for k in range(repeats):
            src.seek(0)
            for packet in src.demux():
                if packet.dts is None:
                    continue
                index = packet.stream.index
                shift = round(k * SEGMENT_S / packet.time_base)
                if packet.dts + shift <= last_dts.get(index, -(2**62)):
                    continue
                packet.pts += shift
                packet.dts += shift
                last_dts[index] = packet.dts
                packet.stream = streams[index]
                out.mux(packet)
    tmp.replace(path)
    return repeats


def ensure_file(cache: Path, size_mb: int) -> Path:
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"big1080_{size_mb}mb.mp4"
    if path.exists() and path.stat().st_size >= size_mb * 1_000_000:
        print(f"using cached {path} ({path.stat().st_size / 1e6:.0f} MB)")
        return path
    started = time.perf_counter()
    segment = cache / "segment.mp4"
    make_segment(segment)
    encoded = time.perf_counter()
    repeats = remux_until(segment, path, size_mb * 1_000_000)
    print(
        f"made {path} ({path.stat().st_size / 1e6:.0f} MB, {repeats} × {SEGMENT_S} s) in "
        f"{time.perf_counter() - started:.1f} s (encode {encoded - started:.1f} s, remux {time.perf_counter() - encoded:.1f} s)"
    )
    return path


def ensure_mediainfo() -> str | None:
    found = shutil.which("mediainfo")
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        print("mediainfo is missing and cannot be installed here (needs root and apt-get); skipping it")
        return None
    print("mediainfo is missing: installing Debian's package (apt-get install -y mediainfo)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
    if subprocess.run(["apt-get", "install", "-y", "mediainfo"], **quiet).returncode != 0:
        print("  apt-get install failed; running apt-get update first")
        subprocess.run(["apt-get", "update"], **quiet)
        subprocess.run(["apt-get", "install", "-y", "mediainfo"], **quiet)
    return shutil.which("mediainfo")


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--size-mb", type=int, default=300)
    ap.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "kepubot-bench")
    args = ap.parse_args()

    path = ensure_file(args.cache, args.size_mb)
    tool = ensure_mediainfo()

    from bot.campaign import load_campaign

    campaign = load_campaign()
    t = time.perf_counter()
    from bot.checks import check

    report = check(path, "video", campaign, files_only=True)
    first = time.perf_counter() - t
    print(f"\nfile: {report.detected_type}")
    for item in report.items:
        print(f"  {item.status:7} {item.rule_id:28} {item.measured_text}")

    from pymediainfo import MediaInfo

    check_runs = timed(lambda: check(path, "video", campaign, files_only=True), args.runs)
    parse_runs = timed(lambda: MediaInfo.parse(str(path)), args.runs)
    cli_runs = (
        timed(lambda: subprocess.run([tool, str(path)], stdout=subprocess.DEVNULL, check=True), args.runs)
        if tool
        else []
    )
    cold_cmd = [sys.executable, "-m", "bot.checks", str(path), "-c", "video"]
    cold_runs = timed(lambda: subprocess.run(cold_cmd, stdout=subprocess.DEVNULL, cwd=ROOT), args.runs)

    med = statistics.median
    print(f"\n{args.runs} runs each, median (min–max), file {path.stat().st_size / 1e6:.0f} MB:")
    print(f"  check() first call in process  {ms(first)}")
    for label, runs in (
        ("check() in process", check_runs),
        ("pymediainfo MediaInfo.parse", parse_runs),
        ("mediainfo CLI", cli_runs),
        ("python -m bot.checks (cold)", cold_runs),
    ):
        if runs:
            print(f"  {label:31}{ms(med(runs))}  ({min(runs) * 1000:.1f}–{max(runs) * 1000:.1f} ms)")
    if cli_runs:
        print(f"  ratio check() / mediainfo CLI    {med(check_runs) / med(cli_runs):8.2f}")
        print(f"  ratio cold CLI / mediainfo CLI   {med(cold_runs) / med(cli_runs):8.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
