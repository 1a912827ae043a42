"""A run failure whose first line in the Dagster UI is its cause, not ``dagster._core...Failure:``.

The UI shows a failed step's error as Python prints the exception: ``traceback.format_exception_only``, i.e.
``<module>.<class>: <message>`` (``SerializableErrorInfo.message``, the heading of the step failure and of the
run failure's error; the description and metadata come below it). Python leaves the module out for classes of
``builtins`` and prints the class's ``__qualname__``; so a :class:`dagster.Failure` of a one-off class named
after the cause, with an empty message, prints the cause and nothing else. Dagster handles it as any
``Failure`` (no retry when ``allow_retries=False``, description and metadata kept for alerts and the UI).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg


class _CauseFailure(dg.Failure):
    """Base of the one-off classes: printed as its class name alone."""

    def __str__(self) -> str:
        return ""


def cause_failure(
    description: str, *, metadata: Mapping[str, Any] | None = None, allow_retries: bool = False
) -> dg.Failure:
    """A :class:`dagster.Failure` whose printed first line (the UI's) is ``description``'s first line.

    Parameters
    ----------
    description
        The cause, first line first (never a password: it is shown, logged and sent in alerts).
    metadata
        Shown under the heading in the UI.
    allow_retries
        As :class:`dagster.Failure`'s.
    """
    first = description.strip().splitlines()[0] if description.strip() else "failed"
    cls = type(first, (_CauseFailure,), {"__module__": "builtins", "__qualname__": first})
    return cls(description=description, metadata=dict(metadata or {}), allow_retries=allow_retries)
