"""Who may hold one of the receiver's connections: association limits, idle connections dropped, counters.

pynetdicom counts a TCP connection that has not sent its A-ASSOCIATE request as an association, so a dozen
raw connections that never send a byte lock every modality out until their ARTIM timers expire. Here:

- connections that have not associated yet are bounded on their own (``max_unassociated``): a new
  connection past the bound drops the oldest such one (a real peer sends its request within milliseconds, so
  only idle ones are ever dropped; the dropped one's thread ends at once), and ``acse_timeout`` (the ARTIM
  timer) ends the rest early. A burst of connections faster than their threads start is counted late and
  may pass the bound for a moment: the next connection drops the excess;
- associations are counted from their request on, in total and per calling host; past either limit the
  request gets an A-ASSOCIATE-RJ (transient, local limit exceeded);
- every refusal is counted in :class:`ReceiverMetrics` (written as a Prometheus text file by the receiver).

The checks apply only to servers of an AE marked with :func:`admit`; other pynetdicom users in the same
process are untouched.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_LOG_EVERY = 60.0  # seconds between two warnings about the same kind of refusal (an attack floods the log)


@dataclass(frozen=True)
class AdmissionLimits:
    """How many associations in total and per calling host, and how many connections not yet associated."""

    max_associations: int
    max_associations_per_host: int
    max_unassociated: int


class ReceiverMetrics:
    """Counters of the receiver (thread-safe), as a Prometheus text exposition."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._warned: dict[str, float] = {}

    def inc(self, name: str, reason: str = "") -> None:
        """Add one to counter ``name`` (with label ``reason`` when given)."""
        with self._lock:
            self._counts[(name, reason)] += 1

    def refused(self, name: str, reason: str, peer: str) -> None:
        """Count a refusal and warn about it (at most once a minute per reason)."""
        self.inc(name, reason)
        now = time.monotonic()
        with self._lock:
            if now - self._warned.get(reason, -_LOG_EVERY) < _LOG_EVERY:
                return
            self._warned[reason] = now
        log.warning("refused a connection or association from %s: %s (counted in the metrics)", peer, reason)

    def get(self, name: str, reason: str = "") -> int:
        """The current value of a counter."""
        with self._lock:
            return self._counts[(name, reason)]

    def prometheus(self) -> str:
        """The counters in the Prometheus text format (``radlake_dicom_<name>_total``)."""
        with self._lock:
            items = sorted(self._counts.items())
        lines = []
        for (name, reason), value in items:
            label = f'{{reason="{reason}"}}' if reason else ""
            lines.append(f"radlake_dicom_{name}_total{label} {value}")
        return "\n".join(lines) + "\n"

    def write(self, path: Path) -> None:
        """Write :meth:`prometheus` to ``path`` atomically (for a node exporter's textfile collector)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(self.prometheus(), encoding="ascii")
        os.replace(tmp, path)


class _Admission:
    """The checks of one server (its AE carries this object)."""

    def __init__(self, limits: AdmissionLimits, metrics: ReceiverMetrics) -> None:
        self.limits = limits
        self.metrics = metrics
        self._lock = threading.Lock()

    def connection(self, server: Any, client_address: Any) -> bool:
        """At accept: True to take the connection; drops the oldest idle one when too many wait."""
        peer = _host(client_address)
        acceptors = server.active_associations
        hard = 4 * (self.limits.max_associations + self.limits.max_unassociated)
        if len(acceptors) >= hard:  # dropped idle connections linger until their ARTIM timer ends
            self.metrics.refused("connections_refused", "too_many_connections", peer)
            return False
        waiting = sorted(
            (a for a in acceptors if _unassociated(a) and not getattr(a, "_radlake_dropped", False)),
            key=lambda a: getattr(a, "_radlake_opened", 0.0),
        )
        while len(waiting) >= self.limits.max_unassociated:
            oldest = waiting.pop(0)
            oldest._radlake_dropped = True
            with contextlib.suppress(OSError, AttributeError):
                oldest.dul.socket.socket.shutdown(socket.SHUT_RDWR)
            # Wake its thread (it waits acse_timeout for a request): it ends now, see request().
            oldest.dul.to_user_queue.put(_DROPPED)
            self.metrics.refused("connections_dropped", "no_association_request", _host(oldest.requestor.address))
        return True

    def request(self, assoc: Any) -> None:
        """At the A-ASSOCIATE request: reject it (transient, local limit exceeded) past the limits."""
        if getattr(assoc, "_radlake_dropped", False):
            # Dropped while it waited (woken by _DROPPED, or its request raced the drop): end it, no reply.
            assoc.is_aborted = True
            assoc.kill()  # its socket is shut: the DUL reaches Sta1 at once (or at its own ARTIM expiry)
            return
        server = assoc._server
        host = str(assoc.requestor.address)
        with self._lock:  # two requests at once must not both take the last place
            others = [
                a
                for a in server.active_associations
                if a is not assoc and getattr(a, "_radlake_counted", False) and not a.is_released and not a.is_aborted
            ]
            reason = ""
            if len(others) >= self.limits.max_associations:
                reason = "too_many_associations"
            elif sum(1 for a in others if str(a.requestor.address) == host) >= self.limits.max_associations_per_host:
                reason = "too_many_associations_from_host"
            if not reason:
                assoc._radlake_counted = True
                return
        self.metrics.refused("associations_rejected", reason, host)
        assoc.acse.send_reject(0x02, 0x03, 0x02)
        assoc.kill()


_DROPPED = object()
"""Put on a dropped connection's queue in place of the A-ASSOCIATE request it never sent."""


def _unassociated(assoc: Any) -> bool:
    return assoc.requestor.primitive is None and not assoc.is_aborted


def _host(address: Any) -> str:
    return str(address[0] if isinstance(address, tuple) else address)


_installed = threading.Lock()
_done = False


def admit(ae: Any, limits: AdmissionLimits, metrics: ReceiverMetrics) -> list:
    """Apply the limits to servers of ``ae``; returns the event handlers to start the server with."""
    from pynetdicom import evt

    _install()
    ae._radlake_admission = admission = _Admission(limits, metrics)
    # pynetdicom's own count includes idle connections: the checks above replace it.
    ae.maximum_associations = 4 * (limits.max_associations + limits.max_unassociated)

    def on_open(event: Any) -> None:
        event.assoc._radlake_opened = time.monotonic()

    def on_requested(event: Any) -> None:
        admission.request(event.assoc)

    def on_rejected(event: Any) -> None:
        # Triggered by pynetdicom's own checks only: a calling or called AE title not accepted.
        metrics.inc("associations_rejected", "ae_title_not_accepted")

    def on_accepted(event: Any) -> None:
        metrics.inc("associations_accepted")

    return [
        (evt.EVT_CONN_OPEN, on_open),
        (evt.EVT_REQUESTED, on_requested),
        (evt.EVT_REJECTED, on_rejected),
        (evt.EVT_ACCEPTED, on_accepted),
    ]


def _install() -> None:
    global _done
    with _installed:
        if _done:
            return
        from pynetdicom.transport import AssociationServer

        original = AssociationServer.verify_request

        def verify_request(self: Any, request: Any, client_address: Any) -> bool:
            admission: _Admission | None = getattr(self.ae, "_radlake_admission", None)
            if admission is None:
                return original(self, request, client_address)
            return admission.connection(self, client_address)

        AssociationServer.verify_request = verify_request  # type: ignore[method-assign]
        _done = True
