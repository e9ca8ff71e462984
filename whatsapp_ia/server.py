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
"""

from __future__ import annotations

import gc
import logging
import sys
from typing import Any

import daphne.server
from daphne.cli import CommandLineInterface
from daphne.http_protocol import HTTPFactory as DaphneHTTPFactory
from daphne.http_protocol import WebRequest as DaphneWebRequest

logger = logging.getLogger("daphne.server")


class WebRequest(DaphneWebRequest):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parsePOSTFormSubmission = False  # the body goes to the application untouched


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
        gc.collect()
        gc.freeze()
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
