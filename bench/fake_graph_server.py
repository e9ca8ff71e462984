"""A FakeGraph in a process of its own, plus a control endpoint the outbound benchmark reads.

    taskset -c 1 python -m bench.fake_graph_server --token BENCH --rate-limit 80 --pair-interval 2 \
        --info-file /tmp/graph.json

Writes {"graph_url", "control_url", "pid"} to --info-file once serving, then serves until SIGTERM
(or --max-seconds). Control endpoint (GET, loopback):
  /stats   counts: sent, requests, rate_limit_errors (130429), pair_limit_errors (131056), by status/code,
           and the fake's own garbage-collection pauses (gc_pauses: count, longest_ms)
  /sent    every accepted send: at (epoch s), to, text
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

from conversations.fakes.graph import FakeGraph
from conversations.fakes.server import FakeServer, Reply, json_reply


class GcPauses:
    """Times the collector's pauses: while it runs, no request is handled, and the ones that queue
    up meanwhile get timestamps within a millisecond of each other (a burst Meta would not see)."""

    def __init__(self) -> None:
        self.count, self.longest_ms, self._started = 0, 0.0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.longest_ms = max(self.longest_ms, (time.perf_counter() - self._started) * 1000)


GC_PAUSES: GcPauses | None = None


def stats(graph: FakeGraph) -> dict[str, Any]:
    requests = graph.requests
    by_answer: collections.Counter[str] = collections.Counter()
    for record in requests:
        error = (record.get("response") or {}).get("error") if isinstance(record.get("response"), dict) else None
        by_answer[f"{record['status']} {error.get('code') if isinstance(error, dict) else 'ok'}"] += 1
    return {
        "sent": len(graph.sent),
        "requests": len(requests),
        "rate_limit_errors": graph.rate_limit_errors,
        "pair_limit_errors": graph.pair_limit_errors,
        "connections_opened": graph.connections_opened,
        "answers": dict(by_answer),
        "gc_pauses": {"count": GC_PAUSES.count, "longest_ms": round(GC_PAUSES.longest_ms, 1)} if GC_PAUSES else None,
    }


def sent(graph: FakeGraph) -> list[dict[str, Any]]:
    return [
        {
            "at": s["at"],
            "to": (s.get("json") or {}).get("to"),
            "text": ((s.get("json") or {}).get("text") or {}).get("body"),
        }
        for s in graph.sent
    ]


class ControlServer(FakeServer):
    """GET /stats and /sent of the fake Graph beside it (the same server base as the fakes)."""

    thread_name = "control"

    def __init__(self, graph: FakeGraph) -> None:
        super().__init__()
        self.graph = graph

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        routes = {"/stats": stats, "/sent": sent}
        handler = routes.get(path) if method == "GET" else None
        if handler is None:
            return json_reply(404, {"error": "not found"})
        return json_reply(200, handler(self.graph))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--token", default="BENCH")
    parser.add_argument("--rate-limit", type=int, default=0, help="messages/s per business number (0: no limit)")
    parser.add_argument("--pair-interval", type=float, default=0.0, help="seconds between sends to one recipient")
    parser.add_argument("--info-file", required=True)
    parser.add_argument("--max-seconds", type=float, default=1800.0, help="stop by itself after this long")
    parser.add_argument(
        "--gc",
        action="store_true",
        help="keep Python's cyclic garbage collector on (off by default: the fake's records form no cycles, "
        "and a full collection over them stalls every request for tens of milliseconds)",
    )
    parser.add_argument(
        "--media", action="append", default=[], metavar="ID=PATH:MIME",
        help="a media file the fake serves for download (Graph /<id> then its URL); repeatable",
    )  # fmt: skip
    args = parser.parse_args()
    global GC_PAUSES
    GC_PAUSES = GcPauses()
    if not args.gc:
        gc.disable()

    graph = FakeGraph(
        token=args.token,
        rate_limit_per_second=args.rate_limit or None,
        pair_interval=args.pair_interval or None,
    ).start()
    for spec in args.media:
        media_id, _, rest = spec.partition("=")
        path, _, mime = rest.rpartition(":")
        graph.add_media(media_id, Path(path).read_bytes(), mime)
    control = ControlServer(graph).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    info = {"graph_url": graph.base_url, "control_url": control.base_url, "pid": os.getpid()}
    tmp = Path(args.info_file + ".tmp")
    tmp.write_text(json.dumps(info))
    tmp.replace(args.info_file)
    stop.wait(args.max_seconds)
    control.stop()
    graph.stop()


if __name__ == "__main__":
    main()
