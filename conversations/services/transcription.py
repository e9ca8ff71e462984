"""Voice notes to text: Vosk offline, or OpenAI's transcription endpoint.

``transcribe_file(path)`` returns an :class:`EnrichmentResult` (source "transcription", backend
"vosk" or "openai") or raises one of the contract's errors with a reason code
(``conversations.services.enrichment_types``). ``transcription_availability()`` tells the admin
and the console, cheaply, whether it can work now.

Choosing the backend: ``TRANSCRIPTION_BACKEND=vosk`` (default, offline, free, Spanish by the model
you install) or ``openai`` (needs ``OPENAI_API_KEY``; ``OPENAI_BASE_URL`` for a compatible server;
``OPENAI_TRANSCRIPTION_MODEL``, default whisper-1; ``TRANSCRIPTION_LANGUAGE``, default "es").

Installing a Spanish Vosk model (production)
--------------------------------------------

Vosk needs a model folder; none ships with the project. The small Spanish model
(vosk-model-small-es-0.42, about 39 MB zipped, about 300 MB of RAM once loaded, good for voice notes)
is the usual choice; the large one (vosk-model-es-0.42, 1.4 GB) is more accurate but needs several GB
of RAM. Either way:

1. By hand::

       mkdir -p /srv/whatsapp-ia/models && cd /srv/whatsapp-ia/models
       curl -LO https://alphacephei.com/vosk/models/vosk-model-small-es-0.42.zip
       sha256sum vosk-model-small-es-0.42.zip        # compare with what you trust, keep it for step 2
       unzip vosk-model-small-es-0.42.zip             # -> vosk-model-small-es-0.42/{am,conf,graph,ivector}

   then set ``VOSK_MODEL_PATH=/srv/whatsapp-ia/models/vosk-model-small-es-0.42`` for the workers
   (in Docker, mount that folder into the worker container and point the variable at the mount).

2. Or let the workers fetch it: ``VOSK_MODEL_DOWNLOAD=true``, ``VOSK_MODEL_URL`` (default: the small
   Spanish model above), ``VOSK_MODEL_SHA256=<the zip's sha256>`` (strongly advised: a mismatch
   deletes the download and transcription stays unavailable with "checksum mismatch"), and
   ``VOSK_MODEL_PATH`` where it goes (default ``var/models/vosk``). The first voice note downloads and
   unpacks it (one worker at a time, a file lock), or do it ahead of time:
   ``python manage.py transcription_model --download``.

``python manage.py transcription_model`` prints the backend, the model path and its state. The model
loads once per worker process (a few seconds), then stays in memory. ``VOSK_GRAMMAR`` (comma-separated
words or phrases) restricts recognition to them, e.g. the answers of a menu.

Limits: ``MAX_TRANSCRIPTION_DURATION_MS`` (longer notes are skipped as "too_long"; agents still hear
them), ``TRANSCRIPTION_TIMEOUT_SEC``, and load shedding: when the transcriptions of the last
``TRANSCRIPTION_LOAD_WINDOW_SEC`` seconds took more than ``TRANSCRIPTION_MAX_AVG_TIME_SEC`` on average,
new ones are skipped as "overloaded" until the window forgets the slow ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
import wave
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from django.conf import settings

from conversations.services.activity import recognition_rest
from conversations.services.audio import SAMPLE_RATE, audio_to_wav
from conversations.services.enrichment_types import (
    Availability,
    EnrichmentFailed,
    EnrichmentResult,
    EnrichmentSkipped,
    EnrichmentTransient,
    EnrichmentUnavailable,
)
from whatsapp_ia.idle_priority import run_at_idle_priority

logger = logging.getLogger(__name__)

BACKENDS = ("vosk", "openai")
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENAI_MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # the transcription endpoint's limit
VOSK_MODEL_MAX_BYTES = 4 * 1024**3  # a download larger than this is refused (the large Spanish model is 1.4 GB)
VOSK_MODEL_MAX_UNPACKED = 8 * 1024**3
VOSK_CHUNK_FRAMES = 4_000  # frames fed to the recognizer at a time (0.25 s)
LOAD_KEY = "wia:transcription:load"  # Redis sorted set: finished-at -> "<finished-at>:<seconds>:<id>"
_TAG = re.compile(r"^\[[^\]]*\]$")  # "[unk]", and the "[4]"-style noise tokens some models emit


# --------------------------------------------------------------------------- availability


def vosk_model_path() -> Path:
    """Where the Vosk model is (or goes): VOSK_MODEL_PATH, else var/models/vosk."""
    configured = str(getattr(settings, "VOSK_MODEL_PATH", "") or "").strip()
    if configured:
        return Path(configured).expanduser()
    from whatsapp_ia.env import VAR_DIR

    return VAR_DIR / "models" / "vosk"


def is_vosk_model_dir(path: Path) -> bool:
    """Does this folder look like a Vosk model (an acoustic model file)?"""
    return path.is_dir() and ((path / "am" / "final.mdl").is_file() or (path / "final.mdl").is_file())


def _vosk_importable() -> str:
    """ "" when the vosk package imports, else why not."""
    try:
        import vosk  # noqa: F401
    except Exception as exc:  # an ImportError, or its native library failing to load
        return f"the vosk package does not import: {exc}"
    return ""


def transcription_availability() -> Availability:
    """Can voice notes be transcribed now (cheap: no model load, no network)?"""
    backend = str(getattr(settings, "TRANSCRIPTION_BACKEND", "vosk") or "vosk").strip().lower()
    if backend not in BACKENDS:
        return Availability(False, backend, "no_backend", f"unknown TRANSCRIPTION_BACKEND {backend!r}")
    if shutil.which("ffmpeg") is None:
        return Availability(False, backend, "no_backend", "ffmpeg not found")
    if backend == "openai":
        if not getattr(settings, "OPENAI_API_KEY", ""):
            return Availability(False, "openai", "no_backend", "OPENAI_API_KEY is not set")
        model = settings.OPENAI_TRANSCRIPTION_MODEL
        return Availability(True, "openai", "", f"{model} at {settings.OPENAI_BASE_URL or DEFAULT_OPENAI_BASE_URL}")
    problem = _vosk_importable()
    if problem:
        return Availability(False, "vosk", "no_backend", problem)
    path = vosk_model_path()
    if is_vosk_model_dir(path):
        return Availability(True, "vosk", "", f"model at {path}")
    if getattr(settings, "VOSK_MODEL_DOWNLOAD", False):
        return Availability(True, "vosk", "", f"downloads on first use from {settings.VOSK_MODEL_URL} to {path}")
    return Availability(
        False,
        "vosk",
        "no_model",
        f"no Vosk model at {path}: set VOSK_MODEL_PATH, run `manage.py transcription_model --download`, "
        "or set VOSK_MODEL_DOWNLOAD=true",
    )


# --------------------------------------------------------------------------- load shedding


def _redis() -> Any:
    from whatsapp_ia.redis_client import redis_client

    return redis_client()


def transcription_load_record(seconds: float, *, now: float) -> None:
    """Remember that a transcription finished at ``now`` took ``seconds`` (for load shedding)."""
    window = float(settings.TRANSCRIPTION_LOAD_WINDOW_SEC)
    member = f"{now:.6f}:{seconds:.6f}:{uuid.uuid4().hex[:8]}"
    try:
        pipe = _redis().pipeline(transaction=False)
        pipe.zadd(LOAD_KEY, {member: now})
        pipe.zremrangebyscore(LOAD_KEY, "-inf", f"({now - window}")
        pipe.expire(LOAD_KEY, int(window) + 60)
        pipe.execute()
    except Exception:  # Redis down: shedding is best effort, transcription goes on
        logger.warning("could not record a transcription time in Redis", exc_info=True)


def transcription_load_average(*, now: float) -> tuple[float, int]:
    """(average seconds, count) of the transcriptions that finished in the window before ``now``."""
    window = float(settings.TRANSCRIPTION_LOAD_WINDOW_SEC)
    members = _redis().zrangebyscore(LOAD_KEY, now - window, "+inf")
    times = []
    for member in members:
        text = member.decode() if isinstance(member, bytes) else str(member)
        with contextlib.suppress(ValueError, IndexError):
            times.append(float(text.split(":")[1]))
    return (sum(times) / len(times) if times else 0.0), len(times)


def transcription_overloaded(*, now: float) -> bool:
    """True when the recent transcriptions took longer on average than TRANSCRIPTION_MAX_AVG_TIME_SEC."""
    limit = float(settings.TRANSCRIPTION_MAX_AVG_TIME_SEC or 0)
    if limit <= 0:
        return False
    try:
        average, count = transcription_load_average(now=now)
    except Exception:
        logger.warning("could not read the transcription times from Redis", exc_info=True)
        return False
    return count > 0 and average > limit


# --------------------------------------------------------------------------- Vosk

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


def vosk_model(path: Path) -> Any:
    """The process's ``vosk.Model`` for this folder (loaded once; thread-safe)."""
    key = os.fspath(Path(path).resolve())
    model = _models.get(key)
    if model is not None:
        return model
    with _models_lock:
        model = _models.get(key)
        if model is None:
            import vosk

            vosk.SetLogLevel(-1)
            try:
                model = vosk.Model(key)
            except Exception as exc:
                raise EnrichmentUnavailable("no_model", f"Vosk could not load the model at {key}: {exc}") from None
            _models[key] = model
        return model


def vosk_model_preload() -> bool:
    """Load the Vosk model now, at idle CPU priority, if this process will transcribe with one that is installed
    (no download): for the media worker at its start, so the first voice notes do not wait for a load of
    hundreds of MB while texts are being answered. False when there is nothing to load or it failed (logged:
    the first transcription then tries again and records the reason)."""
    availability = transcription_availability()
    path = vosk_model_path()
    if not availability.available or availability.backend != "vosk" or not is_vosk_model_dir(path):
        return False
    started = time.monotonic()
    try:
        run_at_idle_priority(lambda: vosk_model(path))
    except Exception as exc:
        logger.warning("Could not preload the Vosk model at %s: %s", path, exc)
        return False
    logger.info("Vosk model at %s loaded in %.1f s", path, time.monotonic() - started)
    return True


def vosk_grammar_json(phrases: Sequence[str]) -> str | None:
    """The recognizer grammar for these phrases ("[unk]" catches the rest), or None for free speech (pure)."""
    cleaned = [p.strip() for p in phrases if p and p.strip()]
    if not cleaned:
        return None
    return json.dumps([*cleaned, "[unk]"], ensure_ascii=False)


def clean_transcript(parts: Sequence[str]) -> str:
    """Join recognizer results, without "[unk]" and other bracketed tokens (pure)."""
    words = [w for part in parts for w in part.split() if not _TAG.match(w)]
    return " ".join(words)


def vosk_transcribe_wav(
    model: Any,
    wav_path: Path,
    *,
    grammar: Sequence[str] = (),
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    rest: Callable[[float], float] | None = None,
) -> tuple[str, float]:
    """The text Vosk hears in a 16 kHz mono 16-bit WAV, and the seconds it rested.

    Stops with EnrichmentTransient past ``deadline``. ``rest(worked)`` is called after each chunk with the
    seconds the chunk took (``activity.recognition_rest``: a pause while messages flow); the seconds it
    rests push the deadline back.
    """
    import vosk

    rested = 0.0
    with wave.open(os.fspath(wav_path), "rb") as wav:
        rate = wav.getframerate() or SAMPLE_RATE
        spec = vosk_grammar_json(grammar)
        recognizer = vosk.KaldiRecognizer(model, rate, spec) if spec else vosk.KaldiRecognizer(model, rate)
        recognizer.SetWords(True)
        parts: list[str] = []
        while True:
            data = wav.readframes(VOSK_CHUNK_FRAMES)
            if not data:
                break
            started = clock()
            if recognizer.AcceptWaveform(data):
                parts.append(json.loads(recognizer.Result()).get("text", ""))
            if rest is not None and (paused := rest(clock() - started)):
                rested += paused
                if deadline is not None:
                    deadline += paused
            if deadline is not None and clock() > deadline:
                raise EnrichmentTransient("timeout", "Vosk took longer than TRANSCRIPTION_TIMEOUT_SEC")
        parts.append(json.loads(recognizer.FinalResult()).get("text", ""))
    return clean_transcript(parts), rested


# --------------------------------------------------------------------------- model download


def safe_zip_members(archive: zipfile.ZipFile, *, max_unpacked: int = VOSK_MODEL_MAX_UNPACKED) -> list[zipfile.ZipInfo]:
    """The archive's members, refusing absolute paths, ".." and oversized contents (no path traversal)."""
    members = archive.infolist()
    total = 0
    for info in members:
        name = info.filename.replace("\\", "/")
        path = PurePosixPath(name)
        if name.startswith("/") or re.match(r"^[A-Za-z]:", name) or ".." in path.parts:
            raise EnrichmentUnavailable("no_model", f"unsafe path in the model zip: {info.filename!r}")
        total += info.file_size
    if total > max_unpacked:
        raise EnrichmentUnavailable("no_model", f"the model zip unpacks to {total} bytes, over {max_unpacked}")
    return members


def _model_root(extracted: Path) -> Path:
    """The zip's single top folder, or the extraction folder itself when the files are at the top."""
    entries = [p for p in extracted.iterdir() if p.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return extracted


def _log_progress(done: int, total: int | None) -> None:
    if total:
        logger.info("Vosk model download: %d%% (%.1f of %.1f MB)", done * 100 // total, done / 1e6, total / 1e6)
    else:
        logger.info("Vosk model download: %.1f MB", done / 1e6)


def _fetch(
    url: str,
    target: Path,
    *,
    timeout: float,
    max_bytes: int,
    progress: Callable[[int, int | None], None],
) -> str:
    """Stream ``url`` into ``target``; return its sha256. Progress is reported at every 10% (or 10 MB)."""
    digest = hashlib.sha256()
    done = 0
    next_report = 0.0
    if not url.lower().startswith(("https://", "http://")):
        raise EnrichmentUnavailable("no_model", f"VOSK_MODEL_URL must be http(s): {url!r}")
    request = urllib.request.Request(url, headers={"User-Agent": "whatsapp-ia/transcription_model"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:  # noqa: S310
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            if total is not None and total > max_bytes:
                raise EnrichmentUnavailable("no_model", f"the model is {total} bytes, over {max_bytes}")
            step = total / 10 if total else 10_000_000
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                done += len(chunk)
                if done > max_bytes:
                    raise EnrichmentUnavailable("no_model", f"the model download passed {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
                if done >= next_report:
                    progress(done, total)
                    next_report = (done // step + 1) * step
            if total is not None and done != total:
                raise EnrichmentUnavailable("no_model", f"the download stopped at {done} of {total} bytes")
            progress(done, total)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise EnrichmentUnavailable("no_model", f"could not download {url}: {exc}") from None
    return digest.hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Any:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def download_vosk_model(
    url: str,
    dest: Path,
    *,
    sha256: str = "",
    timeout: float = 60.0,
    max_bytes: int = VOSK_MODEL_MAX_BYTES,
    progress: Callable[[int, int | None], None] = _log_progress,
) -> Path:
    """Download a zipped Vosk model and unpack it at ``dest`` (its single top folder's contents).

    One process at a time (a file lock next to ``dest``); a model already there is kept. The zip is
    checked against ``sha256`` when given, unpacked into a temporary folder beside ``dest`` and
    renamed into place, so ``dest`` is either absent or complete. Raises EnrichmentUnavailable("no_model").
    """
    dest = Path(dest).expanduser().absolute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(dest.parent / f".{dest.name}.lock"):
        if is_vosk_model_dir(dest):
            return dest
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise EnrichmentUnavailable("no_model", f"{dest} exists and is not a Vosk model: move it away first")
        work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.download-", dir=dest.parent))
        try:
            archive_path = work / "model.zip"
            logger.info("Downloading the Vosk model from %s", url)
            got = _fetch(url, archive_path, timeout=timeout, max_bytes=max_bytes, progress=progress)
            expected = sha256.strip().lower()
            if expected and got != expected:
                archive_path.unlink(missing_ok=True)
                raise EnrichmentUnavailable("no_model", f"checksum mismatch: expected {expected}, got {got}")
            extracted = work / "unpacked"
            try:
                with zipfile.ZipFile(archive_path) as archive:
                    archive.extractall(extracted, members=safe_zip_members(archive))
            except zipfile.BadZipFile as exc:
                raise EnrichmentUnavailable("no_model", f"the download is not a zip: {exc}") from None
            archive_path.unlink(missing_ok=True)
            root = _model_root(extracted)
            if not is_vosk_model_dir(root):
                raise EnrichmentUnavailable("no_model", "the zip holds no Vosk model (no am/final.mdl)")
            if dest.is_dir():
                dest.rmdir()  # empty (checked above)
            os.rename(root, dest)
            logger.info("Vosk model ready at %s", dest)
            return dest
        finally:
            shutil.rmtree(work, ignore_errors=True)


def ensure_vosk_model() -> Path:
    """The model folder, downloaded first when missing and VOSK_MODEL_DOWNLOAD is on."""
    path = vosk_model_path()
    if is_vosk_model_dir(path):
        return path
    if not getattr(settings, "VOSK_MODEL_DOWNLOAD", False):
        raise EnrichmentUnavailable("no_model", f"no Vosk model at {path}")
    return download_vosk_model(
        settings.VOSK_MODEL_URL, path, sha256=getattr(settings, "VOSK_MODEL_SHA256", ""), timeout=60.0
    )


# --------------------------------------------------------------------------- OpenAI


def openai_transcribe(path: Path, *, filename: str = "audio.wav") -> str:
    """The text OpenAI's transcription endpoint (or a compatible one) hears in this file."""
    import openai

    client = openai.OpenAI(
        api_key=settings.OPENAI_API_KEY,
        base_url=settings.OPENAI_BASE_URL or DEFAULT_OPENAI_BASE_URL,
        timeout=float(settings.OPENAI_TIMEOUT),
        max_retries=0,
    )
    options: dict[str, Any] = {"model": settings.OPENAI_TRANSCRIPTION_MODEL, "response_format": "json"}
    if settings.TRANSCRIPTION_LANGUAGE:
        options["language"] = settings.TRANSCRIPTION_LANGUAGE
    try:
        result = client.audio.transcriptions.create(file=(filename, Path(path).read_bytes(), "audio/wav"), **options)
    except openai.APITimeoutError:
        raise EnrichmentTransient("timeout", f"no answer within {settings.OPENAI_TIMEOUT:g} s") from None
    except openai.APIConnectionError as exc:
        raise EnrichmentTransient("provider_error", f"connection: {exc}") from None
    except openai.APIStatusError as exc:
        body = (exc.response.text if exc.response is not None else str(exc))[:300]
        detail = f"HTTP {exc.status_code}: {body}"
        if exc.status_code == 429 or exc.status_code >= 500:
            raise EnrichmentTransient("provider_error", detail) from None
        raise EnrichmentFailed("provider_error", detail) from None
    return str(getattr(result, "text", "") or "").strip()


# --------------------------------------------------------------------------- entry point


def transcribe_file(
    path: Path,
    *,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], float] = time.time,
    rest: Callable[[float], float] = recognition_rest,
) -> EnrichmentResult:
    """Transcribe one audio file with the configured backend (see the module docstring).

    Vosk rests between chunks while customers' messages flow (``rest``, see services/activity.py); the
    time it rested is not counted as transcription time for load shedding.
    """
    availability = transcription_availability()
    if not availability.available:
        raise EnrichmentUnavailable(availability.reason, availability.detail)
    backend = availability.backend
    model_dir = ensure_vosk_model() if backend == "vosk" else None
    timeout = float(settings.TRANSCRIPTION_TIMEOUT_SEC)
    max_ms = int(settings.MAX_TRANSCRIPTION_DURATION_MS)
    start = clock()
    with tempfile.TemporaryDirectory(prefix="wia-transcribe-") as tmp:
        wav = Path(tmp) / "audio.wav"
        duration_ms = run_at_idle_priority(
            lambda: audio_to_wav(Path(path), wav, timeout=timeout, max_duration_ms=max_ms if max_ms > 0 else None)
        )
        if max_ms > 0 and duration_ms > max_ms:
            raise EnrichmentSkipped("too_long", f"over {max_ms / 1000:g} s (the limit, MAX_TRANSCRIPTION_DURATION_MS)")
        if transcription_overloaded(now=now()):
            raise EnrichmentSkipped(
                "overloaded",
                f"recent transcriptions averaged over {settings.TRANSCRIPTION_MAX_AVG_TIME_SEC:g} s "
                f"(the last {settings.TRANSCRIPTION_LOAD_WINDOW_SEC} s)",
            )
        rested = 0.0
        try:
            if model_dir is not None:
                model, grammar = vosk_model(model_dir), list(getattr(settings, "VOSK_GRAMMAR", []) or [])
                text, rested = run_at_idle_priority(
                    lambda: vosk_transcribe_wav(
                        model, wav, grammar=grammar, deadline=start + timeout, clock=clock, rest=rest
                    )
                )
            else:
                if wav.stat().st_size > OPENAI_MAX_UPLOAD_BYTES:
                    raise EnrichmentSkipped("too_large", "over the provider's 25 MB upload limit")
                text = openai_transcribe(wav)
        finally:
            elapsed = max(clock() - start, 0.0)
            transcription_load_record(max(elapsed - rested, 0.0), now=now())
    if not text:
        raise EnrichmentFailed("no_speech", f"{duration_ms / 1000:.1f} s of audio, no words recognised")
    return EnrichmentResult(
        text=text,
        backend=backend,
        source="transcription",
        elapsed_ms=int(elapsed * 1000),
        duration_ms=duration_ms,
    )
