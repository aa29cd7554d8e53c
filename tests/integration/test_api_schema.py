"""The whole HTTP API fuzzed against its own OpenAPI document (schemathesis): whatever is
sent, no 5xx, and every answer is one the document describes. A bounded number of examples
per operation keeps it in the suite's time."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from service_support import API_KEY, SECRET, Server, make_token

from chat_server.entrypoints.http.api.openapi import DOCUMENT

schema = schemathesis.openapi.from_dict(DOCUMENT)
EXAMPLES = int(os.environ.get("CHAT_TEST_API_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    env = {"CHAT_JWT_SECRET": SECRET, "CHAT_API_KEYS": API_KEY, "CHAT_LOG_LEVEL": "warning",
           "CHAT_REQUEST_RATE": "off", "CHAT_SEND_RATE": "off", "CHAT_NEW_CHAT_RATE": "off"}
    server = Server(env, tmp_path_factory.mktemp("fuzz") / "chat-server.log").start()
    yield server
    server.stop()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_answer_of_the_api_is_a_server_error_or_off_its_document(case, api_server: Server):
    token = API_KEY if "/me/" not in case.path else make_token("customer", 7)
    # Valid by the document is not always acceptable: an id may name no chat (404), an
    # opaque cursor may be made up (400), a host may be outside the operator's list. Every
    # other check holds: no 5xx, documented statuses, headers, content types and bodies.
    case.call_and_validate(base_url=api_server.url,
                           headers={"Authorization": f"Bearer {token}"},
                           excluded_checks=[checks.positive_data_acceptance])
