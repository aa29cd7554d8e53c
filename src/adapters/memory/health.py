"""Readiness of the in-memory storage: it lives in this process, so it answers while we do."""


class InMemoryHealthProbe:
    async def ready(self) -> bool:
        return True
