"""Agent console websocket: authenticate, join the groups the user's roles allow, forward events."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from conversations.visibility import user_groups

_groups_for = database_sync_to_async(user_groups)  # the same rule the selectors and the broadcaster use


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    groups_joined: list[str]

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.groups_joined = await _groups_for(user)
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def console_event(self, event: dict[str, Any]) -> None:
        await self.send_json({"event": event["name"], "data": event["data"]})
