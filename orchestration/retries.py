"""Retrying a step whose source cannot be reached, as radlake.yaml's ``retries`` says, failing with the cause.

Dagster's own ``RetryPolicy`` ends a step with "Exceeded max_retries of N" and tucks the cause away; a run
that failed because a database was down must say so on its first line, naming the source, host and port.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import dagster as dg

from orchestration.failures import cause_failure
from radlake.config import RetryConfig
from radlake.errors import SourceUnreachableError

T = TypeVar("T")


def transient_retry_policy(retries: RetryConfig) -> dg.RetryPolicy:
    """Dagster's retry of a step for unexpected errors (a share remounting), with the configured waits."""
    return dg.RetryPolicy(
        max_retries=retries.max_retries,
        delay=retries.delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL if retries.backoff > 1 else None,
    )


def retry_unreachable(
    fn: Callable[[], T], retries: RetryConfig, log: Any, *, sleep: Callable[[float], None] = time.sleep
) -> T:
    """``fn()``, tried again after each wait of ``retries`` while it raises :class:`SourceUnreachableError`.

    Raises
    ------
    dagster.Failure
        When the last attempt failed too: its description, and the first line the UI shows, is the error's own
        line (source, host, port and reason), then how many attempts were made; Dagster does not retry it again.
    """
    waits = retries.waits()
    for attempt, wait in enumerate([*waits, None], start=1):
        try:
            return fn()
        except SourceUnreachableError as err:
            if wait is None:
                raise cause_failure(
                    f"{err} (gave up after {attempt} attempts over {sum(waits):.0f} s of waiting; "
                    "radlake.yaml `retries`)",
                    metadata={"attempts": attempt, "waited_seconds": round(sum(waits), 1)},
                ) from None
            log.warning(f"{err}: retry {attempt} of {len(waits)} in {wait:.0f} s")
            sleep(wait)
    raise AssertionError("unreachable")  # the loop returns or raises
