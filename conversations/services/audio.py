"""Inbound audio with ffmpeg/ffprobe: its length, and a 16 kHz mono 16-bit WAV that every
transcription backend reads.

WhatsApp voice notes are Ogg/Opus; customers also send MP3, M4A/MP4 (AAC), AMR, WAV and WebM.
ffmpeg runs as a subprocess (an argument list, never a shell) with a timeout, reading only local
files (``-protocol_whitelist file``) and only audio containers (``-format_whitelist``), so an image
or a playlist named ``.ogg`` is refused before any decoder sees it.

Errors are the contract's (``conversations.services.enrichment_types``): ``EnrichmentFailed`` with
"empty", "corrupt" or "unsupported"; ``EnrichmentTransient("timeout")``;
``EnrichmentUnavailable("no_backend")`` when ffmpeg is not installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from pathlib import Path

from conversations.services.enrichment_types import (
    EnrichmentFailed,
    EnrichmentTransient,
    EnrichmentUnavailable,
)

SAMPLE_RATE = 16_000
# Containers ffmpeg may open (demuxer names); anything else is "not an audio file".
AUDIO_DEMUXERS = (
    "ogg",
    "matroska",
    "webm",
    "mov",
    "mp4",
    "m4a",
    "3gp",
    "mp3",
    "wav",
    "amr",
    "amrnb",
    "amrwb",
    "aac",
    "flac",
    "aiff",
    "caf",
    "w64",
)
# How far past the limit the WAV is cut, so a file over the limit shows as longer than it.
OVER_LIMIT_MARGIN_MS = 1_000
_STDERR_TAIL = 400


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise EnrichmentUnavailable("no_backend", f"{name} not found")
    return found


def _input_args(src: Path) -> list[str]:
    """The options and path of one input: local files, audio containers only; an absolute path, so a
    name starting with "-" or "http:" is still a file."""
    return [
        "-protocol_whitelist",
        "file",
        "-format_whitelist",
        ",".join(AUDIO_DEMUXERS),
        "-i",
        os.fspath(Path(src).absolute()),
    ]


def ffmpeg_wav_argv(src: Path, dst: Path, *, max_duration_ms: int | None = None, ffmpeg: str = "ffmpeg") -> list[str]:
    """The ffmpeg command that writes ``src`` as 16 kHz mono s16le WAV to ``dst`` (pure).

    With ``max_duration_ms``, the output stops a little past it (OVER_LIMIT_MARGIN_MS), so the caller
    can tell "too long" from "just at the limit" without decoding the whole file.
    """
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *_input_args(src)]
    argv += ["-vn", "-ac", "1", "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le"]
    if max_duration_ms is not None:
        argv += ["-t", f"{(max_duration_ms + OVER_LIMIT_MARGIN_MS) / 1000:.3f}"]
    argv += ["-f", "wav", os.fspath(Path(dst).absolute())]
    return argv


def ffprobe_duration_argv(path: Path, *, ffprobe: str = "ffprobe") -> list[str]:
    """The ffprobe command that prints the container's duration in seconds (pure)."""
    return [
        ffprobe,
        "-v",
        "error",
        *_input_args(path)[:-2],
        "-show_entries",
        "format=duration",
        "-of",
        "default=noprint_wrappers=1:nokey=1",
        os.fspath(Path(path).absolute()),
    ]


def _tail(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return text[-_STDERR_TAIL:]


def classify_ffmpeg_error(stderr: str) -> tuple[str, str]:
    """(reason, detail) for a failed ffmpeg run, from its error output (pure)."""
    lowered = stderr.lower()
    if "not on whitelist" in lowered:
        return "corrupt", "not an audio file: " + stderr
    if "does not contain any stream" in lowered or "output file #0 does not contain" in lowered:
        return "unsupported", "no audio stream: " + stderr
    if (
        "decoder (codec" in lowered
        or "unknown decoder" in lowered
        or "unsupported codec" in lowered
        or "no decoder" in lowered
        or "not yet implemented" in lowered
    ):
        return "unsupported", stderr
    return "corrupt", stderr


def _check_input(src: Path) -> None:
    try:
        size = Path(src).stat().st_size
    except FileNotFoundError:
        raise EnrichmentFailed("no_media", f"no file at {src}") from None
    if size == 0:
        raise EnrichmentFailed("empty", "the file has 0 bytes")


def wav_duration_ms(path: Path) -> int:
    """The length of a WAV file from its frame count."""
    with wave.open(os.fspath(path), "rb") as wav:
        rate = wav.getframerate() or SAMPLE_RATE
        return int(wav.getnframes() * 1000 / rate)


def audio_duration_ms(path: Path, *, timeout: float) -> int | None:
    """The audio's length as the container states it, or None when ffprobe cannot tell."""
    try:
        argv = ffprobe_duration_argv(path, ffprobe=_tool("ffprobe"))
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)  # noqa: S603 (a list, no shell)
    except (EnrichmentUnavailable, subprocess.TimeoutExpired, OSError):
        return None
    if done.returncode != 0:
        return None
    try:
        seconds = float(done.stdout.decode().strip().splitlines()[0])
    except (ValueError, IndexError):
        return None
    return int(seconds * 1000) if seconds >= 0 else None


def audio_to_wav(src: Path, dst: Path, *, timeout: float, max_duration_ms: int | None = None) -> int:
    """Write ``src`` as 16 kHz mono s16le WAV to ``dst``; return the WAV's length in ms.

    With ``max_duration_ms`` the WAV stops a little past it: a result above the limit means the
    original is longer than the limit.
    """
    _check_input(src)
    argv = ffmpeg_wav_argv(src, dst, max_duration_ms=max_duration_ms, ffmpeg=_tool("ffmpeg"))
    try:
        done = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)  # noqa: S603 (a list, no shell)
    except subprocess.TimeoutExpired:
        raise EnrichmentTransient("timeout", f"ffmpeg took more than {timeout:g} s") from None
    except FileNotFoundError:
        raise EnrichmentUnavailable("no_backend", "ffmpeg not found") from None
    if done.returncode != 0:
        reason, detail = classify_ffmpeg_error(_tail(done.stderr))
        raise EnrichmentFailed(reason, detail or f"ffmpeg exited with {done.returncode}")
    try:
        duration = wav_duration_ms(dst)
    except (OSError, EOFError, wave.Error) as exc:
        raise EnrichmentFailed("corrupt", f"ffmpeg wrote no readable WAV: {exc}") from None
    if duration == 0:
        raise EnrichmentFailed("empty", "no audio in the file")
    return duration
