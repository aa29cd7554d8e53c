"""Reports of users, in this process."""

from __future__ import annotations

from chat_server.domain.reports import Report
from chat_server.domain.users import UserRef


class InMemoryReportRepository:
    def __init__(self) -> None:
        self._reports: list[Report] = []

    async def add(self, report: Report) -> None:
        if all(r.id != report.id for r in self._reports[-100:]):
            self._reports.append(report)

    async def by_reporter(self, reporter: UserRef, limit: int) -> list[Report]:
        mine = [r for r in reversed(self._reports) if r.reporter == reporter]
        return mine[:max(limit, 0)]
