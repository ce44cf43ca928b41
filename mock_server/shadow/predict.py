"""The fake's prediction for each exchange, and its comparison with the upstream's answer.

An in-process ``BflMock`` answers the same request the app sent. It never reaches the network (its egress
refuses every host: no webhook, no image fetch) and its tasks advance only when the upstream's do: it runs
with ``progression=manual`` and, when the upstream reports a task finished, the fake's task is finished with
the outcome the fake decided at submit. The real task's id is shared through a bounded map (upstream id ->
fake id), so a poll or a download of the real task is answered by the fake's twin of it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from mock_server.shadow.exchange import Exchange
from mock_server.shadow.rules import (
    BEHAVIOURS,
    TERMINAL,
    Divergence,
    PollTrack,
    artefact_differences,
    artefact_facts,
    json_differences,
    polling_url_problems,
    rate_header_differences,
    result_url_differences,
)

POLL_PATH = "/v1/get_result"
UNLIMITED = 1e15  # credits of every key in the shadow's fake
MAX_TASKS = 10_000  # tasks whose twins are remembered (oldest forgotten first)
POLL_SHAPE_ONLY = frozenset({"id", "seed", "start_time", "end_time", "duration", "sample", "preview", "progress"})


@dataclass
class Twin:
    fake_id: str
    endpoint: str
    key: str = ""
    predictable_final: bool = True  # False when the fake cannot know the end (an input image given as a URL)
    track: PollTrack = field(default_factory=PollTrack)
    finished: bool = False


class _Bounded(OrderedDict[str, Any]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def answer_of(status: int, headers: list[tuple[str, str]], body: bytes, limit: int = 4096) -> dict[str, Any]:
    """An answer as the report keeps it: status, headers (secrets redacted) and the body, JSON or summarised."""
    from mock_server.core.redact import REDACTED_HEADERS, redact_json

    parsed = _json(body) if body[:1] in (b"{", b"[") else None
    shown: Any
    if parsed is not None:
        shown = redact_json(parsed)
    elif body:
        import hashlib

        shown = f"<{len(body)} bytes sha256 {hashlib.sha256(body).hexdigest()[:16]}>"
    else:
        shown = ""
    return {
        "status": status,
        "headers": [[k, "***" if k.lower() in REDACTED_HEADERS else v[:256]] for k, v in headers[:64]],
        "body": shown,
    }


class Predictor:
    """Answers each exchange with the fake and returns the divergences (called from one worker thread, in
    the order the exchanges finished)."""

    def __init__(self, mock: Any) -> None:
        from mock_server.core.egress import TargetRefused

        self.mock = mock
        self.twins: _Bounded = _Bounded(MAX_TASKS)  # upstream task id -> Twin
        self.samples: _Bounded = _Bounded(MAX_TASKS)  # upstream result path -> the fake's result (path, query)
        self.unpredicted = 0  # exchanges the fake could not answer in kind (a task it never saw submitted)
        egress = mock.backend.egress

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise TargetRefused("the shadow's fake never calls out")

        egress.allowed = lambda url: False  # webhooks and image fetches: nothing leaves the shadow's fake
        egress.check = refuse
        self._endpoints = {e.path: e for e in mock.endpoints}

    # ------------------------------------------------------------------ the fake's answer
    def _ask(self, ex: Exchange, query: str | None = None, path: str | None = None) -> Any:
        from mock_server.http.types import HttpRequest

        headers: dict[str, str] = {}
        for k, v in ex.headers:
            headers.setdefault(k.lower(), v)
        req = HttpRequest(
            method=ex.method,
            path=path or ex.path,
            query_string=ex.query if query is None else query,
            headers=headers,
            body=ex.body,
            host=headers.get("host") or "api.bfl.ai",
        )
        return self.mock.serve(req)

    # ------------------------------------------------------------------ compare
    def compare(self, ex: Exchange) -> list[Divergence]:
        if ex.status == 0:  # no answer from the upstream: nothing to compare
            return []
        if ex.method == "POST" and ex.path in self._endpoints:
            return self._submit(ex)
        if ex.method == "GET" and ex.path == POLL_PATH:
            return self._poll(ex)
        if ex.method == "GET" and ex.path in self.samples:
            return self._download(ex)
        if ex.path.startswith("/results/"):  # a result the shadow never saw announced
            self.unpredicted += 1
            return []
        return self._generic(ex)

    def _div(
        self, behaviour: str, ex: Exchange, details: list[str], predicted: Any, endpoint: str | None = None
    ) -> Divergence:
        assert behaviour in BEHAVIOURS
        from mock_server.shadow.cassettes import scrub_request

        return Divergence(
            behaviour=behaviour,
            endpoint=endpoint or ex.path,
            detail="; ".join(details),
            real=answer_of(ex.status, ex.response_headers, ex.response_body),
            predicted=answer_of(predicted.status, predicted.headers, predicted.body),
            request=scrub_request(ex),
            seq=ex.seq,
        )

    def _status_divergence(self, ex: Exchange, fake: Any, endpoint: str) -> Divergence | None:
        """The behaviour a difference in HTTP status belongs to, with the setting that explains it if any."""
        real, pred = ex.status, fake.status
        if real == pred:
            return None
        settings = self.mock.settings
        rb, pb = _json(ex.response_body), _json(fake.body)
        if 422 in (real, pred):
            detail = f"{_word(real)} upstream ({real}), {_word(pred)} predicted ({pred})"
            if real == 422 and isinstance(rb, dict):
                detail += f": {_locs(rb)}"
            elif isinstance(pb, dict):
                detail += f": {_locs(pb)}"
            return self._div("validation", ex, [detail], fake, endpoint)
        if real in (401, 403) or pred in (401, 403):
            div = self._div("auth", ex, [f"status is {real} upstream, {pred} predicted"], fake, endpoint)
            if ex.header("x-key") and not settings.api_keys and pred < 400:
                div.deviates_by_setting = "api_keys (empty: any non-empty key is accepted)"
            elif not ex.header("x-key") and pred == settings.missing_key_status:
                div.deviates_by_setting = f"missing_key_status={settings.missing_key_status}"
            return div
        div = self._div("status", ex, [f"status is {real} upstream, {pred} predicted"], fake, endpoint)
        text = json.dumps(rb) if rb is not None else ""
        if "inetune" in text and not settings.strict_finetunes and pred < 400:
            div.deviates_by_setting = "strict_finetunes=false"
        elif real == 402 and pred < 400:
            div.deviates_by_setting = "credits (the shadow's fake cannot know the account's balance)"
        return div

    def _submit(self, ex: Exchange) -> list[Divergence]:
        key = ex.header("x-key") or ""
        if key:  # the account's real balance is unknown here: the fake's never runs out (a real 402 is a deviation)
            self.mock.set_credits(key, UNLIMITED)
        fake = self._ask(ex)
        if fake.status == 429 and ex.status < 400 and self._release(key):
            fake = self._ask(ex)  # the fake held twins the app never polled to the end (webhooks): finished now
        out: list[Divergence] = []
        div = self._status_divergence(ex, fake, ex.path)
        if div is not None:
            return [div]
        rb, pb = _json(ex.response_body), _json(fake.body)
        if ex.status == 422:
            diffs = json_differences(rb, pb, shape_only=frozenset())
            if diffs:
                out.append(self._div("validation", ex, diffs, fake))
        elif ex.status in (401, 403):
            diffs = json_differences(rb, pb, shape_only=frozenset())
            if diffs:
                out.append(self._div("auth", ex, diffs, fake))
        elif ex.status == 200 and isinstance(rb, dict) and isinstance(pb, dict):
            diffs = json_differences(rb, pb) + polling_url_problems(rb)
            if diffs:
                out.append(self._div("submit", ex, diffs, fake))
            real_id, fake_id = rb.get("id"), pb.get("id")
            if isinstance(real_id, str) and isinstance(fake_id, str):
                lost = ex.inputs_lost or _has_url_input(ex.body)
                self.twins.put(real_id, Twin(fake_id, ex.path, key, predictable_final=not lost))
        elif rb != pb:
            diffs = json_differences(rb, pb, shape_only=frozenset())
            if diffs:
                out.append(self._div("status", ex, diffs, fake))
        out += self._rate(ex, fake)
        return out

    def _release(self, key: str) -> bool:
        """Finish twins the app never polled to the end (webhooks): the upstream accepted a submit the fake
        refused with 429, so the real tasks are done. This key's first; else the oldest 100 of any key (the
        fake's task store was full). True when there was any."""
        unfinished = [t for t in self.twins.values() if not t.finished]
        stale = [t for t in unfinished if t.key == key] or unfinished[:100]
        for twin in stale:
            self._finish(twin.fake_id)
            twin.finished = True
        return bool(stale)

    def _rate(self, ex: Exchange, fake: Any, endpoint: str | None = None) -> list[Divergence]:
        diffs = rate_header_differences(ex.response_headers, fake.headers)
        return [self._div("rate-limit", ex, diffs, fake, endpoint)] if diffs else []

    def _poll(self, ex: Exchange) -> list[Divergence]:
        q = dict(parse_qsl(ex.query, keep_blank_values=True))
        real_id = q.get("id", "")
        twin: Twin | None = self.twins.get(real_id)
        endpoint = f"{POLL_PATH} ({twin.endpoint})" if twin else POLL_PATH
        rb = _json(ex.response_body)
        out: list[Divergence] = []
        if twin is None:  # a task submitted before the shadow ran, or not through it
            if real_id and ex.status == 200:
                self.unpredicted += 1
                return []
            fake = self._ask(ex)
            div = self._status_divergence(ex, fake, endpoint)
            return [div] if div else []
        if isinstance(rb, dict):
            problems = twin.track.observe(rb)
            if problems:
                out.append(self._div("poll", ex, problems, _Nothing(), endpoint))
        status = rb.get("status") if isinstance(rb, dict) else None
        if status in TERMINAL and not twin.finished:
            if not twin.predictable_final:
                self.unpredicted += 1
                return out
            self._finish(twin.fake_id)
            twin.finished = True
        query = urlencode({**q, "id": twin.fake_id})
        fake = self._ask(ex, query=query)
        if ex.status == 404 and status == "Task not found" and not twin.finished:
            return out  # transient right after submit (P5): the fake may already know the task
        div = self._status_divergence(ex, fake, endpoint)
        if div is not None:
            return [*out, div]
        pb = _json(fake.body)
        if isinstance(rb, dict) and isinstance(pb, dict):
            if rb.get("status") != pb.get("status") and (status in TERMINAL or pb.get("status") in TERMINAL):
                out.append(
                    self._div(
                        "poll",
                        ex,
                        [f"final status is {rb.get('status')} upstream, {pb.get('status')} predicted"],
                        fake,
                        endpoint,
                    )
                )
            else:
                # progress is timing (null on a first poll, then numbers): its order is the PollTrack's rule
                diffs = json_differences(_without(rb, "progress"), _without(pb, "progress"), shape_only=POLL_SHAPE_ONLY)
                if diffs:
                    out.append(self._div("poll", ex, diffs, fake, endpoint))
                rr, pr = rb.get("result"), pb.get("result")
                if isinstance(rr, dict) and isinstance(pr, dict):
                    url_diffs = result_url_differences(rr, pr)
                    if url_diffs:
                        out.append(self._div("result-url", ex, url_diffs, fake, endpoint))
                    if isinstance(rr.get("sample"), str) and isinstance(pr.get("sample"), str):
                        real_path = urlsplit(rr["sample"]).path
                        fake_url = urlsplit(pr["sample"])
                        self.samples.put(real_path, (fake_url.path, fake_url.query, twin.endpoint))
        out += self._rate(ex, fake, endpoint)
        return out

    def _finish(self, fake_id: str) -> None:
        """Finish the fake's twin now, with the outcome the fake decided at submit (BflMock's public API)."""
        from mock_server.core.status import TaskStatus

        try:
            task = self.mock.task(fake_id)
            if task.terminal:
                return
            outcome = task.outcome
            if outcome.status == TaskStatus.ERROR:
                self.mock.fail(fake_id, outcome.error or "Internal error during generation")
            elif outcome.status in (TaskStatus.REQUEST_MODERATED, TaskStatus.CONTENT_MODERATED):
                self.mock.moderate(fake_id, outcome.status, list(outcome.reasons) if outcome.reasons else None)
            else:
                self.mock.complete(fake_id)
        except Exception:  # evicted, or finished meanwhile: the poll comparison says what the fake answers
            return

    def _download(self, ex: Exchange) -> list[Divergence]:
        fake_path, fake_query, endpoint_path = self.samples[ex.path]
        fake = self._ask(ex, query=fake_query, path=fake_path)
        endpoint = f"result download ({endpoint_path})"
        div = self._status_divergence(ex, fake, endpoint)
        if div is not None:
            return [div]
        if ex.status != 200 or (ex.truncated and ex.facts is None):
            return []
        if ex.facts is not None and ex.facts.get("format") == "unrecorded":  # a cassette that lost the bytes
            self.unpredicted += 1
            return []
        real_facts = ex.facts if ex.facts is not None else artefact_facts(ex.response_body)
        diffs = artefact_differences(real_facts, artefact_facts(fake.body))
        real_type, fake_type = ex.response_header("content-type"), _header(fake.headers, "content-type")
        if real_type != fake_type:
            diffs.append(f"content-type is {real_type} upstream, {fake_type} predicted")
        return [self._div("artefact", ex, diffs, fake, endpoint)] if diffs else []

    def _generic(self, ex: Exchange) -> list[Divergence]:
        fake = self._ask(ex)
        div = self._status_divergence(ex, fake, ex.path)
        if div is not None:
            return [div]
        rb, pb = _json(ex.response_body), _json(fake.body)
        if rb is not None and pb is not None:
            diffs = json_differences(rb, pb)
            if diffs:
                return [self._div("status" if ex.status >= 400 else "submit", ex, diffs, fake)]
        return []


class _Nothing:
    """The prediction of a rule that checks the upstream's answers alone (the poll sequence)."""

    status = 0
    headers: list[tuple[str, str]] = []
    body = b""


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def _word(status: int) -> str:
    return "refused" if status == 422 else "accepted" if status < 400 else f"answered {status}"


def _locs(body: dict[str, Any]) -> str:
    detail = body.get("detail")
    if isinstance(detail, list):
        locs = [".".join(str(p) for p in d.get("loc", [])[1:]) for d in detail if isinstance(d, dict)]
        return "fields " + ", ".join(locs[:5])
    return str(detail)[:120]


def _has_url_input(body: bytes) -> bool:
    from mock_server.core.endpoints import all_image_fields

    data = _json(body)
    if not isinstance(data, dict):
        return False
    return any(isinstance(data.get(f), str) and data[f].startswith(("http://", "https://")) for f in all_image_fields())


Compare = Callable[[Exchange], list[Divergence]]
