"""Chat with the bot from the terminal: the real pipeline, with the replies captured instead of sent.

    manage.py simulate_chat --number 573001112233 "hola" "1" "2,4 x 0,6 m"
    manage.py simulate_chat --number 573001112233 --json "si"
    manage.py simulate_chat --number 573001112233 --reset

Each TEXT is one customer message, sent in order; the bot's replies (type, text, options,
media) and the resulting step and roles are printed after each. The test chat is stored like
any conversation, so the next run for the same number continues where this one stopped;
``--reset`` starts it over (history deleted). A TEXT that is an option's number (1..N), id or
title of the bot's latest buttons/list is sent as a tap on that option; prefix it with a
backslash to send it as typed text instead (``\\1``).

``--json`` prints one JSON object per TEXT:
``{"input": ..., "replies": [{"type", "text", "options", "media"}], "step": ..., "roles": [...]}``.

Redis is needed (conversation locks). With the embedded default (no REDIS_URL) and nothing
running, the private Redis is started for this run and stopped afterwards; with REDIS_URL set
and not answering, the command fails saying so. See flows/simulator.py for how the pipeline
runs without Celery.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from flows.simulator import DEFAULT_NUMBER, SimReply, SimTurn, SimulatorError, normalize_number, redis_problem, simulate

INDENT = "    "


class Command(BaseCommand):
    help = (
        "Send messages to the bot as a test customer and print its replies and the resulting step. "
        "Nothing is sent to WhatsApp; the chat persists between runs for the same number."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("texts", nargs="*", metavar="TEXT", help="Customer messages, sent in order.")
        parser.add_argument(
            "--number",
            default=DEFAULT_NUMBER,
            help=f"The test customer's number (digits, a leading + allowed). Default: {DEFAULT_NUMBER}.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object per message.")
        parser.add_argument("--reset", action="store_true", help="Start this number's test chat over first.")

    def handle(self, *args: Any, **options: Any) -> None:
        texts: list[str] = options["texts"]
        reset: bool = options["reset"]
        if not texts and not reset:
            raise CommandError("Give at least one message to send (or --reset to start the test chat over).")
        try:
            number = normalize_number(options["number"])
        except SimulatorError as exc:
            raise CommandError(str(exc)) from exc
        with self._redis_running():
            if reset and not texts:
                self._run(number, [], reset=True)
                if not options["json"]:
                    self.stdout.write(f"Test chat of {number} started over.")
                return
            for index, text in enumerate(texts):
                for turn in self._run(number, [text], reset=reset and index == 0):
                    if options["json"]:
                        self.stdout.write(json.dumps(turn.as_dict(), ensure_ascii=False))
                    else:
                        self.stdout.write("\n".join(format_turn(turn)))

    @staticmethod
    def _run(number: str, texts: list[str], *, reset: bool) -> list[SimTurn]:
        try:
            return simulate(number=number, texts=texts, reset=reset)
        except SimulatorError as exc:
            raise CommandError(str(exc)) from exc

    @contextmanager
    def _redis_running(self) -> Iterator[None]:
        """Start the embedded Redis for this run when that is the configuration and none answers."""
        problem = redis_problem()
        socket_path = settings.REDIS.socket_path
        if not problem:
            yield
            return
        if not socket_path:
            raise CommandError(problem)
        from whatsapp_ia import embedded_redis
        from whatsapp_ia.env import VAR_DIR

        log_path = VAR_DIR / "log" / "simulate_chat-redis.log"
        try:
            proc = embedded_redis.start(socket_path, log_path=log_path)
        except (RuntimeError, OSError) as exc:
            raise CommandError(f"{problem} (Starting the embedded Redis failed: {exc}.)") from exc
        if proc is not None:
            self.stderr.write(f"· Started the embedded Redis on {socket_path} for this run.")
        try:
            yield
        finally:
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=10)


def format_turn(turn: SimTurn) -> list[str]:
    """The human-readable lines for one turn."""
    lines = [f"> {turn.input}"]
    if not turn.replies:
        paused = turn.bot_paused
        lines.append("< (no reply: the bot is paused, a human agent has the chat)" if paused else "< (no reply)")
    for reply in turn.replies:
        lines += format_reply(reply)
    status = {"human": " · bot paused (human agent)", "ai": " · AI answers", "closed": " · closed"}.get(turn.status, "")
    lines.append(f"  step: {turn.step or '-'} · roles: {', '.join(turn.roles) or '-'}{status}")
    return lines


def format_reply(reply: SimReply) -> list[str]:
    first, *rest = reply.text.splitlines() or [""]
    lines = [f"< [{reply.type}] {first}".rstrip(), *(f"{INDENT}{line}".rstrip() for line in rest)]
    numbered = [f"({number}) {option}" for number, option in enumerate(reply.options, start=1)]
    if numbered and reply.type == "list":
        lines += [f"{INDENT}{option}" for option in numbered]
    elif numbered:
        lines.append(INDENT + "  ".join(numbered))
    lines += [f"{INDENT}media: {link}" for link in reply.media]
    return lines
