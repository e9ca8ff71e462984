"""Audio normalisation with the real ffmpeg/ffprobe on real encoded files (conversations/services/audio.py)."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from conversations.services.audio import (
    AUDIO_DEMUXERS,
    OVER_LIMIT_MARGIN_MS,
    audio_duration_ms,
    audio_to_wav,
    classify_ffmpeg_error,
    ffmpeg_wav_argv,
)
from conversations.services.enrichment_types import EnrichmentFailed, EnrichmentTransient, EnrichmentUnavailable
from conversations.tests.audio_samples import ENCODINGS, AudioSamples, audio_samples_fixture  # noqa: F401

FORMATS = list(ENCODINGS)


def test_ffmpeg_argv_normalises_to_16k_mono_pcm_and_caps_a_little_past_the_limit(tmp_path: Path) -> None:
    argv = ffmpeg_wav_argv(Path("voz.ogg"), tmp_path / "out.wav", max_duration_ms=120_000)
    assert argv[:7] == ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-protocol_whitelist"]
    i = argv.index("-i")
    assert argv[i + 1] == str(Path("voz.ogg").absolute())  # absolute: a name like "-x" or "http:" stays a file
    assert argv[argv.index("-format_whitelist") + 1] == ",".join(AUDIO_DEMUXERS)
    tail = argv[i + 2 :]
    assert tail[:8] == ["-vn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le", "-t"]
    assert float(tail[8]) * 1000 == 120_000 + OVER_LIMIT_MARGIN_MS
    assert tail[-1] == str(tmp_path / "out.wav")


def test_ffmpeg_argv_without_a_limit_has_no_cap(tmp_path: Path) -> None:
    assert "-t" not in ffmpeg_wav_argv(Path("/a/b.mp3"), tmp_path / "out.wav")


def test_ffmpeg_errors_are_classified() -> None:
    assert classify_ffmpeg_error("x.ogg: Invalid data found when processing input")[0] == "corrupt"
    assert classify_ffmpeg_error("[jpeg_pipe @ 0x1] Format not on whitelist 'ogg'")[0] == "corrupt"
    assert classify_ffmpeg_error("Output file #0 does not contain any stream")[0] == "unsupported"
    assert classify_ffmpeg_error("Decoder (codec none) not found for input stream #0:0")[0] == "unsupported"


@pytest.mark.parametrize("ext", FORMATS)
def test_each_format_becomes_a_16k_mono_wav_of_the_same_length(
    audio_samples: AudioSamples, tmp_path: Path, ext: str
) -> None:
    src = audio_samples.encoded[ext]
    if src is None:
        pytest.skip(audio_samples.missing_encoder(ext))
    out = tmp_path / "out.wav"
    duration = audio_to_wav(src, out, timeout=60)
    with wave.open(str(out), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (16_000, 1, 2)
        assert duration == wav.getnframes() * 1000 // 16_000
    # Encoders pad a little (Opus pre-skip, AAC priming, MP3 frames): within 100 ms of the spoken WAV.
    assert abs(duration - audio_samples.speech_ms) < 100, (duration, audio_samples.speech_ms)
    probed = audio_duration_ms(src, timeout=30)
    assert probed is not None and abs(probed - audio_samples.speech_ms) < 150


def test_the_cap_cuts_a_little_past_the_limit_so_too_long_shows(audio_samples: AudioSamples, tmp_path: Path) -> None:
    src = audio_samples.encoded["ogg"]
    assert src is not None
    duration = audio_to_wav(src, tmp_path / "out.wav", timeout=60, max_duration_ms=2_000)
    assert 2_000 < duration <= 2_000 + OVER_LIMIT_MARGIN_MS
    # A file shorter than the limit keeps its whole length.
    whole = audio_to_wav(src, tmp_path / "out2.wav", timeout=60, max_duration_ms=60_000)
    assert abs(whole - audio_samples.speech_ms) < 100


def test_zero_length_file_is_empty(audio_samples: AudioSamples, tmp_path: Path) -> None:
    with pytest.raises(EnrichmentFailed) as caught:
        audio_to_wav(audio_samples.empty, tmp_path / "out.wav", timeout=30)
    assert caught.value.reason == "empty"


def test_random_bytes_named_ogg_are_corrupt(audio_samples: AudioSamples, tmp_path: Path) -> None:
    with pytest.raises(EnrichmentFailed) as caught:
        audio_to_wav(audio_samples.random_as_ogg, tmp_path / "out.wav", timeout=30)
    assert caught.value.reason == "corrupt"
    assert "random.ogg: " in caught.value.detail  # ffmpeg's own words about the file, for the admin
    assert audio_duration_ms(audio_samples.random_as_ogg, timeout=30) is None


def test_a_jpeg_named_ogg_is_refused_before_any_decoder(audio_samples: AudioSamples, tmp_path: Path) -> None:
    with pytest.raises(EnrichmentFailed) as caught:
        audio_to_wav(audio_samples.jpeg_as_ogg, tmp_path / "out.wav", timeout=30)
    assert caught.value.reason == "corrupt"
    assert "not an audio file" in caught.value.detail and "jpeg" in caught.value.detail


def test_a_video_without_sound_is_unsupported(audio_samples: AudioSamples, tmp_path: Path) -> None:
    with pytest.raises(EnrichmentFailed) as caught:
        audio_to_wav(audio_samples.video_only, tmp_path / "out.wav", timeout=30)
    assert caught.value.reason == "unsupported"
    assert "no audio stream" in caught.value.detail


def test_a_missing_file_is_no_media(tmp_path: Path) -> None:
    with pytest.raises(EnrichmentFailed) as caught:
        audio_to_wav(tmp_path / "gone.ogg", tmp_path / "out.wav", timeout=30)
    assert caught.value.reason == "no_media"


def test_ffmpeg_past_its_timeout_is_transient(audio_samples: AudioSamples, tmp_path: Path) -> None:
    src = audio_samples.encoded["ogg"]
    assert src is not None
    with pytest.raises(EnrichmentTransient) as caught:
        audio_to_wav(src, tmp_path / "out.wav", timeout=0.000_001)  # expires before ffmpeg can even start
    assert caught.value.reason == "timeout"


def test_without_ffmpeg_there_is_no_backend(
    audio_samples: AudioSamples, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH with no ffmpeg on it
    with pytest.raises(EnrichmentUnavailable) as caught:
        audio_to_wav(audio_samples.silence, tmp_path / "out.wav", timeout=30)
    assert (caught.value.reason, caught.value.detail) == ("no_backend", "ffmpeg not found")
    assert audio_duration_ms(audio_samples.silence, timeout=30) is None
