"""Messaging providers: Meta WhatsApp Cloud API (seed names), YCloud, Chatwoot.

Single-number setups keep working from META_TOKEN / PHONE_NUMBER_ID / VERIFY_TOKEN;
more numbers are Channel rows in the admin. Base URLs are settings so tests and
users can point them elsewhere.
"""

from whatsapp_ia.env import env

META_TOKEN = env.str("META_TOKEN", default="")
PHONE_NUMBER_ID = env.str("PHONE_NUMBER_ID", default="")
VERIFY_TOKEN = env.str("VERIFY_TOKEN", default="")
META_APP_SECRET = env.str("META_APP_SECRET", default="")
META_GRAPH_URL = env.str("META_GRAPH_URL", default="https://graph.facebook.com").rstrip("/")
META_API_VERSION = env.str("META_API_VERSION", default="v25.0")
# Development only: accept unsigned webhooks. The admin shows a warning while off.
WEBHOOK_VERIFY_SIGNATURES = env.bool("WEBHOOK_VERIFY_SIGNATURES", default=True)

# YCloud (WhatsApp through a BSP), seed names: the single-number setup. More numbers are channels in the admin.
YCLOUD_API_URL = env.str("YCLOUD_API_URL", default="https://api.ycloud.com/v2").rstrip("/")
YCLOUD_API_KEY = env.str("YCLOUD_API_KEY", default="")
YCLOUD_WHATSAPP_NUMBER = env.str("YCLOUD_WHATSAPP_NUMBER", default="")
YCLOUD_WEBHOOK_SECRET = env.str("YCLOUD_WEBHOOK_SECRET", default="")
# YCloud's pacing per business number (the same Meta limits behind it).
YCLOUD_RATE_PER_SECOND = env.float("YCLOUD_RATE_PER_SECOND", default=78.0)
YCLOUD_NUMBER_LIMIT_PER_SECOND = env.int("YCLOUD_NUMBER_LIMIT_PER_SECOND", default=80)

# Chatwoot (Instagram / Facebook inboxes): a single inbox from the environment; more in the admin.
# CHATWOOT_WEBHOOK_SECRET authenticates Chatwoot's deliveries: as ?token= in the webhook URL, or as the
# key of Chatwoot's own signature (X-Chatwoot-Signature) when the webhook has that secret.
CHATWOOT_URL = env.str("CHATWOOT_URL", default="").rstrip("/")
CHATWOOT_ACCOUNT_ID = env.str("CHATWOOT_ACCOUNT_ID", default="")
CHATWOOT_API_TOKEN = env.str("CHATWOOT_API_TOKEN", default="")
CHATWOOT_WEBHOOK_SECRET = env.str("CHATWOOT_WEBHOOK_SECRET", default="")
CHATWOOT_INBOX_ID = env.str("CHATWOOT_INBOX_ID", default="")
# Messages per second posted to one Chatwoot inbox (Chatwoot then paces Instagram / Messenger itself).
CHATWOOT_RATE_PER_SECOND = env.float("CHATWOOT_RATE_PER_SECOND", default=20.0)

# Meta's outbound pacing (read by MetaProvider.rate_limits; each provider answers for its own),
# shared by all workers through Redis: sends are booked at OUTBOUND_RATE_PER_SECOND
# per business number, and a last check never lets the provider see more than its limit - 1 in
# any second (Meta's default tier allows 80 messages/s per number; higher tiers more).
OUTBOUND_RATE_PER_SECOND = env.float("OUTBOUND_RATE_PER_SECOND", default=78.0)
OUTBOUND_NUMBER_LIMIT_PER_SECOND = env.int("OUTBOUND_NUMBER_LIMIT_PER_SECOND", default=80)
OUTBOUND_MAX_ATTEMPTS = env.int("OUTBOUND_MAX_ATTEMPTS", default=8)
OUTBOUND_BACKOFF_BASE_SECONDS = env.float("OUTBOUND_BACKOFF_BASE_SECONDS", default=2.0)
OUTBOUND_BACKOFF_MAX_SECONDS = env.float("OUTBOUND_BACKOFF_MAX_SECONDS", default=300.0)
PROVIDER_HTTP_TIMEOUT = env.float("PROVIDER_HTTP_TIMEOUT", default=15.0)
# Webhook deliveries are parsed by drain tasks, one per lane at a time (lane = delivery id % lanes).
DELIVERY_LANES = env.int("DELIVERY_LANES", default=4)
# Sweeper thresholds (seconds): inbound unprocessed / outbound still queued.
SWEEP_INBOUND_AFTER = env.int("SWEEP_INBOUND_AFTER", default=120)
SWEEP_OUTBOUND_AFTER = env.int("SWEEP_OUTBOUND_AFTER", default=120)
# A message left "sending" (its worker died mid-call) is queued again only after this margin on top
# of the longest a send can take (PROVIDER_HTTP_TIMEOUT * 2): by then the provider's status webhook
# has told us if the send went through.
SWEEP_SENDING_MARGIN = env.int("SWEEP_SENDING_MARGIN", default=60)
# Transient failures (database locked or gone, connection reset, provider 5xx) of a webhook delivery
# or of an inbound message's processing are retried with exponential backoff up to this many attempts.
PIPELINE_MAX_ATTEMPTS = env.int("PIPELINE_MAX_ATTEMPTS", default=5)
# Threads of the pipeline runner that send replies while it answers the next messages: a
# provider's round trip (Meta: 100-500 ms) must not hold up the messages behind it.
PIPELINE_SEND_THREADS = env.int("PIPELINE_SEND_THREADS", default=8)
PIPELINE_BACKOFF_BASE_SECONDS = env.float("PIPELINE_BACKOFF_BASE_SECONDS", default=2.0)
PIPELINE_BACKOFF_MAX_SECONDS = env.float("PIPELINE_BACKOFF_MAX_SECONDS", default=120.0)
OUTBOUND_RATE_BURST = env.float("OUTBOUND_RATE_BURST", default=1.0)
# Per-customer ("pair") pacing: a burst, then one message every N seconds (0 disables).
OUTBOUND_PAIR_INTERVAL_SECONDS = env.float("OUTBOUND_PAIR_INTERVAL_SECONDS", default=6.0)
OUTBOUND_PAIR_BURST = env.float("OUTBOUND_PAIR_BURST", default=6.0)
