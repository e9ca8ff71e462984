"""The baseline of bench/e2e_pipeline.py: a minimal stateless WhatsApp bot, pywa on uvicorn.

It checks each POST's signature, answers every text message with one text reply through the
Graph API, and keeps nothing. Run by the benchmark in its own virtualenv
(bench/requirements-baseline.txt):

    BOT_GRAPH_URL=http://127.0.0.1:PORT BOT_PHONE_ID=... BOT_TOKEN=... BOT_APP_SECRET=... \
        python bench/stateless_bot.py --port 8100

BOT_GRAPH_URL points pywa's Graph client at the local fake instead of graph.facebook.com.
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlsplit

import httpx
import uvicorn
from fastapi import FastAPI
from pywa import WhatsApp, filters, types

REPLY = "Hola, gracias por escribirnos. Te respondemos enseguida."


def graph_session(graph_url: str) -> httpx.Client:
    """An httpx client whose requests go to the fake Graph server (same path, its host and port)."""
    target = urlsplit(graph_url)

    def to_fake(request: httpx.Request) -> None:
        request.url = request.url.copy_with(scheme=target.scheme, host=target.hostname, port=target.port)
        request.headers["Host"] = target.netloc

    return httpx.Client(event_hooks={"request": [to_fake]}, timeout=10.0)


def build_app() -> FastAPI:
    app = FastAPI()
    wa = WhatsApp(
        phone_id=os.environ["BOT_PHONE_ID"],
        token=os.environ["BOT_TOKEN"],
        session=graph_session(os.environ["BOT_GRAPH_URL"]),
        server=app,
        webhook_endpoint="/webhook",
        verify_token="bench-verify",  # noqa: S106 (loopback benchmark)
        app_secret=os.environ["BOT_APP_SECRET"],
        validate_updates=True,
    )

    @wa.on_message(filters.text)
    def answer(client: WhatsApp, message: types.Message) -> None:
        # To the phone number, as the product sends (pywa would address the business-scoped user id).
        client.send_message(to=message.from_user.wa_id, text=REPLY)

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(), host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
