"""What the contract kit runs against: a target (the in-process fake, a URL, the real API) and the paid-call
budget that guards the real one. The pytest fixture that builds a ``Target`` is in ``contract_tests/conftest.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mock_server.core.errors import ADMIN_PREFIX

if TYPE_CHECKING:
    import httpx

LIVE_URL = "https://api.us1.bfl.ai"


class BudgetExhausted(Exception):
    pass


class Budget:
    """At most ``limit`` paid calls (valid submits) against a target that charges for them."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit  # None: unlimited (the fake)
        self.used = 0

    def spend(self, what: str = "submit") -> None:
        if self.limit is not None and self.used >= self.limit:
            raise BudgetExhausted(f"paid-call budget exhausted ({self.used} of {self.limit} used); not sending {what}")
        self.used += 1

    def describe(self) -> str:
        return f"{self.used} paid submit(s)" + ("" if self.limit is None else f" of a budget of {self.limit}")


@dataclass(repr=False)
class Target:
    name: str  # inprocess | url | live
    base_url: str
    client: httpx.Client
    key: str
    budget: Budget
    mock: Any = None  # the BflMock when in-process
    recorder: Any = None  # a recorder.Recorder when --bfl-record
    notes: list[str] = field(default_factory=list)
    settings: dict[str, Any] | None = None  # a bfl-mock target's own settings (GET /_mock/config)
    moved: float = 0.0  # seconds the kit moved a served bfl-mock's clock (given back at the end)

    def __repr__(self) -> str:  # what a failure report shows of the fixture: not the settings
        return f"<target {self.name} {self.base_url}>"

    @property
    def charges(self) -> bool:
        return self.name == "live"

    def advance(self, seconds: float) -> bool:
        """Move the target's clock (the in-process fake's, or a served bfl-mock's through its admin API); False
        when the target has no clock to move (real time must pass)."""
        if self.mock is not None:
            self.mock.clock.advance(seconds)
            return True
        if self.settings is None:
            return False
        if self.client.post(f"{ADMIN_PREFIX}/clock/advance", json={"seconds": seconds}).status_code != 200:
            return False
        self.moved += seconds
        return True

    def restore(self) -> None:
        """A served bfl-mock is left as found: its clock moved back by what the kit moved it, and the kit's own
        key forgotten (its tasks, credits, rate-limit bucket). What stays is said in the notes."""
        if self.name != "url" or self.settings is None:
            return
        if self.moved:
            now = self.client.get(f"{ADMIN_PREFIX}/clock").json()["now"]
            r = self.client.post(f"{ADMIN_PREFIX}/clock/set", json={"time": now - self.moved})
            self.notes.append(
                f"clock: moved back by the {self.moved:g} s the kit advanced it"
                if r.status_code == 200
                else f"clock: could not be moved back ({r.status_code}): it is {self.moved:g} s ahead"
            )
        tasks = self.client.get(f"{ADMIN_PREFIX}/tasks", params={"brief": "1"}, headers={"x-mock-key": self.key})
        count = len(tasks.json().get("tasks", [])) if tasks.status_code == 200 else None
        r = self.client.post(f"{ADMIN_PREFIX}/reset", headers={"x-mock-key": self.key})
        if r.status_code == 200:
            self.notes.append(
                f"removed the kit's own key {self.key} and its {count if count is not None else 'unknown number of'} "
                "task(s); the request and webhook journals keep this run's entries"
            )
        else:
            self.notes.append(f"could not reset the kit's key {self.key} ({r.status_code}): its tasks stay")

    def release_tasks(self) -> None:
        """A served bfl-mock: forget the kit key's tasks so far (bodies an oracle test had accepted stay active and
        would fill the active-task limit for the checks after it). Other targets: nothing to do."""
        if self.name == "url" and self.settings is not None:
            self.client.post(f"{ADMIN_PREFIX}/reset", headers={"x-mock-key": self.key})

    def can_pay(self, what: str = "submit") -> bool:
        if not self.charges:
            return True
        try:
            self.budget.spend(what)
        except BudgetExhausted:
            return False
        return True

    def paid(self, what: str = "submit") -> None:
        """Call before a request that costs money on the real API; skips the test when over budget."""
        if not self.charges:
            return
        try:
            self.budget.spend(what)
        except BudgetExhausted as e:
            import pytest

            pytest.skip(str(e))
