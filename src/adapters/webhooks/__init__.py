"""Webhook transport: POSTing signed webhooks over HTTP (aiohttp)."""

from chat_server.adapters.webhooks.http import AiohttpWebhookSender, webhook_sender

__all__ = ["AiohttpWebhookSender", "webhook_sender"]
