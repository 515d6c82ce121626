"""Video and image measurements from MediaInfo (pymediainfo).

`video_metrics` and `image_metrics` are pure functions of MediaInfo's track data, so tests can feed
them a parsed `MediaInfo`, its `to_data()` dict, or a hand-made list of track dicts shaped like
pymediainfo's (numbers may be ints, floats or numeric strings; rotation is a string such as
'90.000', clockwise).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["image_metrics", "parse_media", "track_dicts", "video_metrics"]


def parse_media(path: str | Path) -> Any:
    """MediaInfo.parse with pymediainfo's bundled libmediainfo (imported on first use)."""
    from pymediainfo import MediaInfo

    return MediaInfo.parse(str(path))


def track_dicts(mi: Any) -> list[dict[str, Any]]:
    """Tracks as plain dicts from a MediaInfo, its to_data() dict, or an iterable of dicts."""
    if hasattr(mi, "tracks"):
        return [t.to_data() if hasattr(t, "to_data") else dict(t) for t in mi.tracks]
    if isinstance(mi, Mapping):
        return [dict(t) for t in mi.get("tracks", [])]
    if isinstance(mi, Iterable):
        return [dict(t) for t in mi]
    raise TypeError(f"not MediaInfo data: {type(mi).__name__}")


def _num(value: Any) -> float | None:
    """A number from MediaInfo's field: 1920, 2000.0, '50', '90.000', '1 920' → float; else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().split(" / ")[0].replace(" ", "")
        try:
            return float(text)
        except ValueError:
            return None
    return None


def _int(value: Any) -> int | None:
    n = _num(value)
    return None if n is None else int(round(n))


def _of_type(tracks: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [t for t in tracks if t.get("track_type") == kind]


def _yes(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in {"yes", "1", "true"} or value is True


def video_metrics(mi: Any, file_size: int | None = None) -> dict[str, Any]:
    """Measurements of a video file, keyed by the campaign's metric names plus details.

    short_side_px      min(display width, height): width/height as stored (real pixels, not
                       stretched by the pixel aspect ratio), swapped when the rotation is 90/270°.
    bitrate_bps        the OVERALL (container) bit rate: MediaInfo's overall bit rate, else
                       file size × 8 / duration. It includes audio and container overhead, which is
                       what "码流" means to editors and what an encoder's export setting roughly
                       gives; the video stream's own rate is reported beside it as
                       video_bitrate_bps when MediaInfo knows it.
    duration_s         the General track's duration (else the video track's), seconds.
    has_video_track    at least one Video track.
    not_truncated      False when MediaInfo flags the file as truncated (IsTruncated on the General
                       track: mp4 without its moov box, mdat cut short …) or when the video stream
                       claims more bytes than the whole file has.
    """
    tracks = track_dicts(mi)
    general = (_of_type(tracks, "General") or [{}])[0]
    videos = _of_type(tracks, "Video")
    audios = _of_type(tracks, "Audio")
    size = _int(general.get("file_size")) or file_size
    out: dict[str, Any] = {
        "container": general.get("format"),
        "file_size": size,
        "has_video_track": bool(videos),
        "has_audio_track": bool(audios),
        "audio_format": audios[0].get("format") if audios else None,
    }

    duration_ms = _num(general.get("duration"))
    if duration_ms is None and videos:
        duration_ms = _num(videos[0].get("duration"))
    out["duration_s"] = None if duration_ms is None else round(duration_ms / 1000, 3)

    truncated_reason = None
    if _yes(general.get("istruncated")):
        truncated_reason = "IsTruncated"

    video: dict[str, Any] = {}
    if videos:
        # The main picture: the longest track, then the largest (cover art is a 1-frame track).
        video = max(
            videos,
            key=lambda t: (
                _num(t.get("duration")) or 0,
                (_int(t.get("width")) or 0) * (_int(t.get("height")) or 0),
            ),
        )
        stream_size = _int(video.get("stream_size"))
        if truncated_reason is None and size and stream_size and stream_size > size:
            truncated_reason = "stream larger than file"
    out["not_truncated"] = truncated_reason is None
    out["truncated_reason"] = truncated_reason

    width, height = _int(video.get("width")), _int(video.get("height"))
    rotation = _num(video.get("rotation")) or 0.0
    rotation = rotation % 360
    out.update(video_format=video.get("format"), width=width, height=height, rotation=rotation)
    if width and height:
        turned = round(rotation) % 180 == 90
        dw, dh = (height, width) if turned else (width, height)
        out.update(display_width=dw, display_height=dh, short_side_px=min(dw, dh))
    else:
        out.update(display_width=None, display_height=None, short_side_px=None)
    out["frame_rate"] = _num(video.get("frame_rate"))

    overall = _num(general.get("overall_bit_rate"))
    source = "container"
    if overall is None and size and out["duration_s"]:
        overall, source = size * 8 / out["duration_s"], "file_size"
    elif overall is None:
        source = None
    out["bitrate_bps"] = None if overall is None else math.floor(overall)  # never round up onto a bound
    out["bitrate_source"] = source
    out["video_bitrate_bps"] = _int(video.get("bit_rate")) if video else None
    return out


def image_metrics(mi: Any) -> dict[str, Any] | None:
    """width, height, long/short side of the first Image track; None if MediaInfo found none."""
    tracks = track_dicts(mi)
    general = (_of_type(tracks, "General") or [{}])[0]
    for track in _of_type(tracks, "Image"):
        width, height = _int(track.get("width")), _int(track.get("height"))
        if width and height:
            return image_size_metrics(width, height, track.get("format") or general.get("format"))
    return None


def image_size_metrics(width: int, height: int, fmt: str | None) -> dict[str, Any]:
    return {
        "format": fmt,
        "width": width,
        "height": height,
        "image_long_side_px": max(width, height),
        "image_short_side_px": min(width, height),
    }
