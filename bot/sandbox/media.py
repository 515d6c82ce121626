"""Media metadata for the emulator: image size, video size and duration.

pymediainfo is a runtime dependency; Pillow is only a dev dependency, so it is optional.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

try:  # optional: better image sizes and real thumbnails
    from PIL import Image
except ImportError:  # pragma: no cover - depends on the environment
    Image = None


def guess_mime(name: str, default: str = "application/octet-stream") -> str:
    return mimetypes.guess_type(name)[0] or default


def _mediainfo(path: Path):
    from pymediainfo import MediaInfo

    return MediaInfo.parse(str(path))


def image_size(path: Path) -> tuple[int, int] | None:
    if Image is not None:
        try:
            with Image.open(path) as im:
                return im.size
        except Exception:  # noqa: BLE001 - fall back to MediaInfo
            pass
    try:
        for track in _mediainfo(path).tracks:
            if track.track_type in ("Image", "Video") and track.width and track.height:
                return int(track.width), int(track.height)
    except Exception:  # noqa: BLE001
        pass
    return None


def make_thumbnail(src: Path, dest: Path, max_side: int = 320) -> tuple[int, int] | None:
    """Write a JPEG thumbnail (Pillow only); return its size or None."""
    if Image is None:
        return None
    try:
        with Image.open(src) as im:
            if max(im.size) <= max_side:
                return None
            im = im.convert("RGB")
            im.thumbnail((max_side, max_side))
            dest.parent.mkdir(parents=True, exist_ok=True)
            im.save(dest, "JPEG", quality=80)
            return im.size
    except Exception:  # noqa: BLE001
        return None


def video_info(path: Path) -> dict:
    """width, height (as displayed, rotation applied) and whole-second duration."""
    info = {"width": 0, "height": 0, "duration": 0}
    try:
        tracks = _mediainfo(path).tracks
    except Exception:  # noqa: BLE001
        return info
    general = next((t for t in tracks if t.track_type == "General"), None)
    video = next((t for t in tracks if t.track_type == "Video"), None)
    if video is not None:
        w, h = int(video.width or 0), int(video.height or 0)
        try:
            rotation = int(float(video.rotation or 0)) % 360
        except (TypeError, ValueError):
            rotation = 0
        if rotation in (90, 270):
            w, h = h, w
        info["width"], info["height"] = w, h
    ms = (video.duration if video is not None and video.duration else None) or (
        general.duration if general is not None else None
    )
    try:
        info["duration"] = round(float(ms) / 1000) if ms else 0
    except (TypeError, ValueError):
        pass
    return info
