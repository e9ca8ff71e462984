"""Channels: the websocket layer shares the project's Redis.

The pub/sub layer: a console group is one Redis channel, so a console event costs one PUBLISH
per group (not one write per connected console) and each web process fans it out to its own
consoles. Delivery is at most once; the console event log (a Redis Stream) fills any gap when a
console reconnects (conversations/services/event_log.py).
"""

from whatsapp_ia.env import env
from whatsapp_ia.settings.base import REDIS

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS.client], "prefix": "wia-ws"},
    }
}

# Console events kept in Redis for consoles that reconnect (about; a few hours of a busy day).
# A console away longer reloads its state.
CONSOLE_EVENT_LOG_MAX = env.int("CONSOLE_EVENT_LOG_MAX", default=20000)
# Seconds an agent stays listed as viewing a chat without a heartbeat from their console (the
# console sends one every third of this), so a crashed browser disappears.
CONSOLE_PRESENCE_TTL = env.int("CONSOLE_PRESENCE_TTL", default=60)
