"""Channels: the websocket layer shares the project's Redis."""

from whatsapp_ia.settings.base import REDIS

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS.client], "prefix": "wia-ws"},
    }
}
