"""How a task advances, as pure functions: the outcome a request gets (rules, then moderation), when the
task is due, the progress a poll shows, when nobody polling must finish it, and what it ends with.

They keep no state and change no task (``decide`` only lets the rules count their matches), so the rules
can be tested (and read) apart from the store, the lock and the image work; ``BflBackend`` applies what
they return.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
from dataclasses import dataclass
from typing import Any

from mock_server.core import imaging
from mock_server.core.errors import DEFAULT_ERROR, DEFAULT_REASONS, INVALID_IMAGE
from mock_server.core.moderation import Moderator
from mock_server.core.rules import Outcome, RequestContext, RuleSet
from mock_server.core.status import TaskStatus
from mock_server.core.tasks import Task


def decide(
    rules: RuleSet,
    moderator: Moderator,
    *,
    api_key: str,
    params: dict[str, Any],
    scenario: str | None,
    endpoint: str,
) -> tuple[Outcome, int | None]:
    """The outcome a request gets, and the id of the rule that chose it: the first matching rule's, else the
    moderator's (Request Moderated for a flagged prompt at its ``safety_tolerance``), else Ready."""
    ctx = RequestContext(
        prompt=params.get("prompt") or "",
        endpoint=endpoint,
        finetune_id=params.get("finetune_id") or "",
        seed=params.get("seed"),
        api_key=api_key,
        scenario=scenario,
    )
    outcome, rule = rules.decide(ctx)
    if outcome is None:
        reasons = moderator.reasons(ctx.prompt, int(params.get("safety_tolerance", 2)))
        outcome = Outcome(status=TaskStatus.REQUEST_MODERATED, reasons=tuple(reasons)) if reasons else Outcome()
    return outcome, (rule.id if rule else None)


def due(task: Task, now: float, polls: int) -> tuple[bool, float]:
    """Whether ``task`` is finished at ``now`` after ``polls`` polls, and its end time."""
    if task.forced is not None:
        return True, task.finished_at or now
    p = task.progression
    if p.mode == "time":
        end = task.created_at + p.seconds
        return now >= end, end
    if p.mode == "polls":
        if polls >= p.polls:
            return True, now
        if polls == 0 and task.webhook_url is not None:  # nobody polls: finish on the clock
            end = task.created_at + p.after
            return now >= end, end
    return False, now


def progress(task: Task, now: float, polls: int) -> float | None:
    """The ``progress`` a Pending task's poll shows: none on the first poll, then tenths, never going back."""
    if polls <= 1:
        return None
    p = task.progression
    if p.mode == "time":
        # reaches 1.0 at 90% of the run and stays there until Ready, as recorded (dossier P1)
        frac = (now - task.created_at) / (0.9 * p.seconds) if p.seconds > 0 else 1.0
    elif p.mode == "polls":
        frac = (polls - 1) / max(1, p.polls - 1)
    else:
        frac = (polls - 1) / 10
    step = min(1.0, max(0.1, math.floor(frac * 10 + 1e-9) / 10))
    return max(step, task.progress or 0.0)


def next_due(task: Task) -> float | None:
    """When the clock alone finishes ``task`` (nobody needs to poll), if it ever does."""
    p = task.progression
    if p.mode == "time":
        return task.created_at + p.seconds
    if p.mode == "polls" and task.polls == 0 and task.webhook_url is not None:
        return task.created_at + p.after
    return None


def render_wait(task: Task) -> cf.Future[Any] | None:
    """The image job a due task must wait for before it can finish Ready (its check still runs), if any."""
    outcome = task.forced or task.outcome
    if outcome.status == TaskStatus.READY and task.image_job is not None and not task.image_job.done():
        return task.image_job
    return None


@dataclass(frozen=True)
class Resolution:
    """What a finishing task ends with: its outcome (a Ready one whose images failed becomes Error), why its
    images failed when that was not the input's fault (``image_error``), and the exception to record."""

    outcome: Outcome
    image_error: str | None = None
    unexpected: BaseException | None = None


def resolve(task: Task) -> Resolution:
    """The outcome ``task`` finishes with now: the decided (or forced) one, unless it is Ready and its image
    job did not deliver (an unusable input is the real API's Error; a bug in image work is Error too, and
    recorded). Call it once the image job is done (``render_wait`` is None)."""
    outcome = task.forced or task.outcome
    if outcome.status != TaskStatus.READY:
        return Resolution(outcome)
    fut = task.image_job
    failed = Resolution(Outcome(status=TaskStatus.ERROR, error=INVALID_IMAGE))
    if fut is None:
        return failed
    try:
        fut.result(timeout=0)
    except imaging.InvalidImage:
        return failed
    except Exception as e:  # a bug in image work (or a task forgotten meanwhile: LookupError, not recorded)
        return Resolution(
            failed.outcome, f"internal: {type(e).__name__}: {e}", None if isinstance(e, LookupError) else e
        )
    return Resolution(outcome)


def details(outcome: Outcome) -> dict[str, Any] | None:
    """The ``details`` of a finished task's get_result (an error's message, moderation reasons)."""
    status = outcome.status
    if status == TaskStatus.ERROR:
        return {"error": outcome.error or DEFAULT_ERROR}
    if status in (TaskStatus.REQUEST_MODERATED, TaskStatus.CONTENT_MODERATED):
        reasons = outcome.reasons if outcome.reasons is not None else DEFAULT_REASONS[status]
        return {"Moderation Reasons": list(reasons)}
    return None


def held_view(task: Task) -> dict[str, Any]:
    """What get_result shows while the "early" webhook fault holds a finished task (``hold_until``): Pending."""
    return {**task.view(), "status": TaskStatus.PENDING, "result": None, "details": None, "progress": 1.0}


def hold_until(task: Task, outcome: Outcome, end: float) -> float | None:
    """The "early" webhook fault: until when get_result keeps showing Pending after the webhook went out."""
    early = {**(outcome.webhook or {}), **task.webhook_opts}.get("early")
    return end + float(early) if early else None
