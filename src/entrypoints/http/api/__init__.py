"""The HTTP API under ``/api/v1`` (SERVER_API.md): the server API for the marketplace's
backend (API keys) and the user API (the user's JWT)."""
