"""Task statuses: the closed set of ``get_result``'s ``status`` (the spec's StatusResponse enum, dossier P7)."""

from __future__ import annotations

from enum import Enum


class TaskStatus(str, Enum):
    """A ``str`` enum: compares equal to, and serialises as, the exact text the real API sends."""

    TASK_NOT_FOUND = "Task not found"
    PENDING = "Pending"
    REQUEST_MODERATED = "Request Moderated"
    CONTENT_MODERATED = "Content Moderated"
    READY = "Ready"
    ERROR = "Error"

    def __str__(self) -> str:
        return self.value


TERMINAL = frozenset({TaskStatus.READY, TaskStatus.ERROR, TaskStatus.REQUEST_MODERATED, TaskStatus.CONTENT_MODERATED})
FINAL_STATUSES = (*sorted(TERMINAL, key=list(TaskStatus).index), TaskStatus.TASK_NOT_FOUND)  # an outcome's choices
