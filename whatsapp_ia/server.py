"""The web server: Daphne, with changes that keep its response times flat and its CPU low under load.

    python -m whatsapp_ia.server -b 0.0.0.0 -p 8000 whatsapp_ia.asgi:application

Takes every option of the `daphne` command but --proxy-headers (and its -host/-port
companions), refused because Daphne would then take X-Forwarded-For from any client:
the application honours those headers from TRUSTED_PROXIES only (whatsapp_ia/proxy.py).

The changes, measured with bench/webhook_ingest.sh (64 connections to a bare ASGI app on one core: p99 149 ms
with plain Daphne, 19 ms with the first two; the last two took about a fifth of
the server's CPU per webhook POST, 0.43 -> 0.34 ms):

- Finished requests are let go at once. Daphne keeps every request (its protocol
  object, task, scope, headers) in `Server.connections` until a checker that runs
  once a second removes it: at thousands of requests per second that is a second's
  worth of requests alive at any time, promoted into the garbage collector's oldest
  generation, and walked by every full collection (80-100 ms pauses that stall all
  connections). Here a request is removed as soon as it is both answered and its
  application task is done; the once-a-second checker still handles the rest
  (application close timeouts, websockets).
- The objects that exist once the application is loaded (Django, the URLconf's
  modules, settings) are moved out of the collector's reach with `gc.freeze()`, so a
  full collection only walks what was made since.
- Twisted does not parse POST bodies into form arguments. Daphne hands the raw
  body to the application (Django parses forms itself) and never reads Twisted's
  `request.args`, yet Twisted parsed every POST's Content-Type with the `email`
  package and every multipart upload into memory a second time.
- Twisted does not write its own access log line for each request: Daphne has its
  own (`--access-log`, or stdout at the default verbosity).
- A webhook POST must send its whole body within WEBHOOK_READ_TIMEOUT seconds of its
  headers, or it is answered 408 and its connection closed. Daphne hands a request to
  the application only once its body is complete, so without this a client that sends
  a byte now and then (Twisted's idle timeout restarts on every byte) holds its
  connection and its buffered body for as long as it likes.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory as DaphneHTTPFactory
from daphne.http_protocol import WebRequest as DaphneWebRequest

from whatsapp_ia.heap import freeze_startup_heap

logger = logging.getLogger("daphne.server")

# The provider webhook paths (served by conversations/asgi.py's WebhookRoute), with any query string.
WEBHOOK_PATH = re.compile(rb"^/(?:webhook|webhooks/[a-z0-9_-]+/)(?:\?|$)")
READ_TIMEOUT_BODY = b'{"detail": "Request body not received in time."}'
READ_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
    b"Connection: close\r\n\r\n%s" % (len(READ_TIMEOUT_BODY), READ_TIMEOUT_BODY)
)


def read_timeout_for(path: bytes) -> float | None:
    """Seconds a request to `path` has to send its body (WEBHOOK_READ_TIMEOUT for webhooks), or None."""
    if not WEBHOOK_PATH.match(path):
        return None
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    try:
        return float(settings.WEBHOOK_READ_TIMEOUT) or None
    except (ImproperlyConfigured, AttributeError):  # an application without the project's settings
        return None


class WebRequest(DaphneWebRequest):
    _read_deadline: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parsePOSTFormSubmission = False  # the body goes to the application untouched

    def gotLength(self, length: int | None) -> None:
        """The headers are in: from now on the body has its deadline."""
        super().gotLength(length)
        timeout = read_timeout_for(getattr(self.channel, "_path", b""))
        if timeout:
            self._read_deadline = self.channel.callLater(timeout, self._body_too_slow)

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        self._read_deadline_cancel()
        super().requestReceived(command, path, version)

    def connectionLost(self, reason: Any) -> None:
        self._read_deadline_cancel()
        super().connectionLost(reason)

    def _read_deadline_cancel(self) -> None:
        deadline, self._read_deadline = self._read_deadline, None
        if deadline is not None and deadline.active():
            deadline.cancel()

    def _body_too_slow(self) -> None:
        """408 and close: the application never sees this request, nothing is queued or stored."""
        self._read_deadline = None
        client = self.getClientAddress()
        logger.warning("Webhook POST from %s: body not complete within WEBHOOK_READ_TIMEOUT; 408", client)
        transport = self.channel.transport
        if transport is not None:
            transport.write(READ_TIMEOUT_RESPONSE)
            transport.loseConnection()


class HTTPFactory(DaphneHTTPFactory):
    def buildProtocol(self, addr: Any) -> Any:
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = WebRequest
        return protocol

    def log(self, request: Any) -> None:
        """Daphne writes the access log; Twisted's own line for each request would only be discarded."""


class Server(daphne.server.Server):
    def run(self) -> None:
        daphne.server.HTTPFactory = HTTPFactory  # Server.run builds its factory from this name
        freeze_startup_heap()
        super().run()

    def create_application(self, protocol: Any, scope: dict[str, Any]) -> Any:
        input_queue = super().create_application(protocol, scope)
        task = self.connections.get(protocol, {}).get("application_instance")
        if task is not None:
            task.add_done_callback(lambda _task, protocol=protocol: self.release(protocol))
        return input_queue

    def protocol_disconnected(self, protocol: Any) -> None:
        super().protocol_disconnected(protocol)
        self.release(protocol)

    def release(self, protocol: Any) -> None:
        """Forget a connection that is closed and whose application is done (else leave it to the checker)."""
        details = self.connections.get(protocol)
        if not details or "disconnected" not in details:
            return
        task = details.get("application_instance")
        if task is not None:
            if not task.done():
                return
            if not task.cancelled() and (exception := task.exception()) is not None:
                if isinstance(exception, KeyboardInterrupt):
                    return  # the checker stops the server for this one
                logger.error("Exception inside application: %s", exception, exc_info=exception)
        del self.connections[protocol]


class ServerCommand(CommandLineInterface):
    server_class = Server

    def run(self, args: list[str]) -> None:
        options = self.parser.parse_args(args)
        if options.proxy_headers or options.proxy_headers_host or options.proxy_headers_port:
            self.parser.error(
                "--proxy-headers trusts X-Forwarded-For from every client; leave it out and list the "
                "reverse proxies' addresses in TRUSTED_PROXIES instead"
            )
        super().run(args)


def main(argv: list[str] | None = None) -> None:
    ServerCommand().run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
