"""The request journal: ``Journal.add``'s own path for bodiless requests (every poll) records exactly what
``new_entry`` + ``record`` record, long and many headers included; the byte and count bounds hold."""

from __future__ import annotations

import pytest

from mock_server.core.redact import MAX_STRING
from mock_server.http.journal import Journal
from mock_server.http.types import HttpRequest

RAW = b'{"id":"t","status":"Pending","result":null,"progress":null,"details":null,"preview":null}'


def slow(journal: Journal, req: HttpRequest, status: int, raw: bytes | None, ms: float):
    entry = journal.new_entry(
        1.5, req.method, req.path, req.query_string, req.headers, req.body, req.headers.get("content-type")
    )
    entry.status, entry.task_id, entry.response_raw, entry.latency_ms = status, req.task_id, raw, ms
    return journal.record(entry)


@pytest.mark.parametrize(
    "headers",
    [
        {"x-key": "sk-secret-key", "host": "api.bfl.ai"},
        {},
        {"x-key": "k" * 2000, "user-agent": "u"},  # a value past MAX_HEADER
        {"x" * 200: "long name"},
        {f"h{i}": "v" for i in range(300)},  # more than MAX_ITEMS
    ],
    ids=["poll", "none", "long value", "long name", "many"],
)
@pytest.mark.parametrize("path", ["/v1/get_result", "/v1/" + "p" * (MAX_STRING + 10)])
def test_the_fast_path_records_what_new_entry_records(headers, path):
    req = HttpRequest("GET", path, "id=t", headers, b"")
    req.task_id = "t"
    fast, reference = Journal(), Journal()
    a, b = fast.add(1.5, req, 200, RAW, 0.25), slow(reference, req, 200, RAW, 0.25)
    assert a.to_dict() == b.to_dict()
    assert (a.key_id, a.nbytes, fast.nbytes) == (b.key_id, b.nbytes, reference.nbytes)
    assert "sk-secret-key" not in str(a.to_dict())


def test_a_request_with_a_body_is_summarised():
    req = HttpRequest("POST", "/v1/x", "", {"content-type": "application/json"}, b'{"webhook_secret": "s3cret"}')
    entry = Journal().add(0.0, req, 422, None, 1.0)
    assert list(entry.body) == ["webhook_secret"] and "s3cret" not in str(entry.body) and entry.status == 422


def test_bounds_by_count_and_bytes():
    journal = Journal(size=3, max_bytes=10_000)
    req = HttpRequest("GET", "/v1/get_result", "id=t", {"x-key": "k"}, b"")
    for _ in range(5):
        journal.add(0.0, req, 200, RAW, 0.0)
    assert [e.id for e in journal] == [3, 4, 5]
    small = Journal(size=100, max_bytes=1000)
    for _ in range(10):
        small.add(0.0, req, 200, RAW, 0.0)
    assert small.nbytes <= 1000 and 1 <= len(small) < 10
