"""Whether a submit may start a task, and what it costs: the price quote (taken outside the backend's lock:
it may read an input image's header) and the checks run under it before a task is created (finetune,
credits, active-task limits). ``BflBackend.submit`` calls them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from mock_server.core.accounts import Account, Accounts
from mock_server.core.config import Settings
from mock_server.core.endpoints import Endpoint, Quote
from mock_server.core.errors import finetune_not_found, insufficient_credits, too_many_active_tasks
from mock_server.core.finetunes import FinetuneRegistry
from mock_server.core.tasks import Task, TaskStore


def cost_fields(settings: Settings, endpoint: Endpoint) -> str:
    """Whether the submit answer has ``cost``/``input_mp``/``output_mp``: "absent", "null" or "values"."""
    return settings.for_endpoint(endpoint.name, "submit_cost_fields") or endpoint.cost_fields


def quote(settings: Settings, endpoint: Endpoint, params: dict[str, Any]) -> Quote:
    """The submit's price in credits (the ``prices`` setting, else the endpoint's) and megapixels."""
    flat = settings.for_endpoint(endpoint.name, "prices")
    values = cost_fields(settings, endpoint) == "values"
    priced = endpoint.quote(params, settings.cost_per_request, megapixels=values)
    return priced if flat is None else dataclasses.replace(priced, cost=float(flat))


class Admission:
    """The checks a submit passes under the backend's lock before its task is created. ``advance`` moves a
    task forward to ``now`` (the backend's ``_advance_if_ready``): asked only when an active-task limit
    could refuse, since some of the key's tasks may have finished by now."""

    def __init__(
        self,
        settings: Settings,
        tasks: TaskStore,
        finetunes: FinetuneRegistry,
        advance: Callable[[Task, float], bool],
    ) -> None:
        self.settings, self.tasks, self.finetunes, self.advance = settings, tasks, finetunes, advance

    def admit(
        self, accounts: Accounts, api_key: str, endpoint: Endpoint, params: dict[str, Any], quote: Quote, now: float
    ) -> Account:
        """The key's account, once the request passes the finetune, credit and active-task checks (raises
        their ApiError)."""
        self.tasks.evict(now)
        if endpoint.requires_finetune and not self.finetunes.usable(params["finetune_id"], api_key):
            raise finetune_not_found()  # finetunes are scoped to the key's account
        acc = accounts.get(api_key)
        if acc.credits < quote.cost:
            raise insufficient_credits()
        self.check_active(acc, endpoint, now)
        return acc

    def check_active(self, acc: Account, endpoint: Endpoint, now: float) -> None:
        """429 when the key has ``active_task_limit`` active tasks, or its endpoint's own limit of active
        tasks of that endpoint (``active_limits``; flux-kontext-max: 6). 0 turns every limit off."""
        limit = self.settings.active_task_limit
        if not limit:
            return
        own = self.settings.for_endpoint(endpoint.name, "active_limits")
        own_limit = int(own) if own is not None else endpoint.active_limit
        tasks = self.tasks

        def over() -> bool:
            if len(acc.active) >= limit:
                return True
            if own_limit is None:
                return False
            mine = sum(1 for tid in acc.active if (t := tasks.get(tid)) is not None and t.endpoint is endpoint)
            return mine >= own_limit

        if over():
            self.refresh_active(acc, now)  # only when it could refuse: some may have finished by now
            if over():
                raise too_many_active_tasks()

    def refresh_active(self, acc: Account, now: float) -> None:
        """Forget the account's active ids whose task is gone; move the others forward to ``now`` (one whose
        image is still being checked stays active)."""
        for tid in list(acc.active):
            task = self.tasks.get(tid)
            if task is None:
                acc.active.discard(tid)
            else:
                self.advance(task, now)


def release(accounts: Accounts, task: Task) -> None:
    """``task`` no longer counts against its key's active-task limit (finished or forgotten)."""
    acc = accounts.find(task.api_key)
    if acc is not None:
        acc.active.discard(task.id)
