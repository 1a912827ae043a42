"""``radlake hl7 listen``: an MLLP listener that stores each message durably before its ACK, exactly once.

Per message: parse and check it (AR/AE with the reason when it cannot be taken), look its (sending facility,
control id) up among the messages already taken (a resend is answered AA again and not stored twice; the same
control id with other bytes is AE), append it to the write-ahead file and wait for the fsync shared with the
other connections (:mod:`ingestion.hl7.wal`), then answer AA. A landing thread commits closed write-ahead
segments to bronze/hl7_messages in batches; what was stored but not landed (a busy lake, a crash) lands at the
next start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ingestion.hl7.ack import build_ack
from ingestion.hl7.landing import land_closed, landed_keys, landed_segment
from ingestion.hl7.message import Hl7Reject, Message, parse_message
from ingestion.hl7.mllp import END, START, FrameReader, FrameTooLarge
from ingestion.hl7.orders import message_facts
from ingestion.hl7.wal import Record, WriteAhead, now_utc, read_segment, segment_number, segments
from radlake.config import Settings
from radlake.errors import RadlakeError

log = logging.getLogger(__name__)

CRASH_ENV = "RADLAKE_HL7_CRASH_AT"  # test hook: SIGKILL the listener right after storing a message, before its ACK
MAX_CONNECTIONS = 64


@dataclass
class Counters:
    """What the listener did since it started (logged at stop; no patient data)."""

    accepted: int = 0
    duplicates: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    cut_frames: int = 0
    landed: int = 0


def wal_folder(settings: Settings) -> Path:
    """The write-ahead folder (``hl7.wal_dir``, default ``<state_dir>/hl7-wal``)."""
    return settings.hl7.wal_dir or (settings.state_dir / "hl7-wal")


class Hl7Listener:
    """The listener's state: taken control ids, the write-ahead file and the landing thread.

    Parameters
    ----------
    settings
        ``hl7`` holds the allow-list, default encoding, limits and landing cadence.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = settings.hl7
        self.wal_dir = wal_folder(settings)
        self.counters = Counters()
        self._lock = threading.Lock()
        # (facility, control id) → (sha256 of the bytes, an Event set once durable; None when long durable)
        self._taken: dict[tuple[str, str], tuple[str, threading.Event | None]] = {}
        self._recover()
        self.wal = WriteAhead(self.wal_dir, self._first_segment)
        self._stop = threading.Event()
        self._land_now = threading.Event()
        self._landing = threading.Lock()  # the landing thread and the final landing at stop never overlap
        self._crash = os.environ.get(CRASH_ENV) == "after_store"

    def _recover(self) -> None:
        """Know every message taken so far: in bronze, and stored in segments not landed yet."""
        self.wal_dir.mkdir(parents=True, exist_ok=True)
        self._taken = {k: (sha, None) for k, sha in landed_keys(self.settings).items()}
        last = landed_segment(self.settings, self.wal_dir)
        for path in segments(self.wal_dir):
            last = max(last, segment_number(path))
            for rec in read_segment(path):
                try:
                    msg = parse_message(rec.raw, self.cfg.encoding)
                except Hl7Reject:
                    continue
                key = (msg.sending_facility or "", msg.control_id or "")
                self._taken.setdefault(key, (hashlib.sha256(rec.raw).hexdigest(), None))
        self._first_segment = last + 1

    def handle(self, raw: bytes) -> bytes:
        """The ACK for one frame's content, after storing it durably when it is taken."""
        msg: Message | None = None
        try:
            msg = parse_message(raw, self.cfg.encoding)
            facility = msg.sending_facility or ""
            allowed = self.cfg.allowed_facilities
            if allowed and facility not in allowed:
                raise Hl7Reject("AR", "sending facility (MSH-4) is not in hl7.allowed_facilities")
            message_facts(msg, self.settings.timezone)
            return build_ack(msg, *self._store(msg, raw))
        except Hl7Reject as rej:
            with self._lock:
                self.counters.rejected[rej.code] = self.counters.rejected.get(rej.code, 0) + 1
            log.info("HL7 message answered %s: %s", rej.code, rej.reason)
            return build_ack(msg, rej.code, rej.reason)

    def _store(self, msg: Message, raw: bytes) -> tuple[str, str]:
        key = (msg.sending_facility or "", msg.control_id or "")
        sha = hashlib.sha256(raw).hexdigest()
        with self._lock:
            seen = self._taken.get(key)
            if seen is None:
                done = threading.Event()
                self._taken[key] = (sha, done)
        if seen is not None:
            if seen[0] != sha:
                raise Hl7Reject("AE", "control id (MSH-10) already taken for a different message")
            if seen[1] is not None:
                seen[1].wait(60)  # the first copy is still being stored: answer once it is durable
            with self._lock:
                self.counters.duplicates += 1
                durable = key in self._taken
            return ("AA", "") if durable else ("AE", "the first copy of this message could not be stored")
        try:
            self.wal.store(Record(raw, now_utc()))
        except OSError as exc:
            with self._lock:
                del self._taken[key]
            done.set()
            log.error("HL7 write-ahead failed (%s): answering AE", exc.strerror or exc)
            return "AE", "the message could not be stored; send it again later"
        if self._crash:
            os.kill(os.getpid(), signal.SIGKILL)
        with self._lock:
            self._taken[key] = (sha, None)
            self.counters.accepted += 1
        done.set()
        if self.wal.records_in_open >= self.cfg.land_every_messages:
            self._land_now.set()
        return "AA", ""

    def serve_connection(self, sock: socket.socket) -> None:
        """Answer frames on one connection until the peer closes it, goes idle or sends too much."""
        reader = FrameReader(sock, self.cfg.max_message_bytes)
        sock.settimeout(self.cfg.idle_timeout_seconds)
        try:
            while not self._stop.is_set():
                try:
                    frame = reader.next_frame()
                except FrameTooLarge as exc:
                    sock.sendall(START + build_ack(None, "AR", str(exc)) + END)
                    return
                if frame is None:
                    return
                sock.sendall(START + self.handle(frame) + END)
        except (TimeoutError, OSError):
            return
        finally:
            with self._lock:
                self.counters.cut_frames += reader.cut_frames
            sock.close()

    def land(self) -> int:
        """Land every closed write-ahead segment in bronze (the open one is closed first)."""
        with self._landing:
            closed = self.wal.rotate()
            if not closed:
                return 0
            landed = land_closed(self.settings, closed, self.wal_dir)
        with self._lock:
            self.counters.landed += landed
        return landed

    def _landing_loop(self) -> None:
        while not self._stop.is_set():
            self._land_now.wait(self.cfg.land_every_seconds)
            self._land_now.clear()
            try:
                self.land()
            except RadlakeError as exc:
                log.warning("HL7 landing waits (stored messages are safe on disk): %s", exc)

    def serve(
        self,
        host: str,
        port: int,
        *,
        stop_event: threading.Event,
        ready: Callable[[int], None] | None = None,
    ) -> Counters:
        """Listen until ``stop_event`` is set, then land what is stored and return the counters."""
        server = socket.create_server((host, port), reuse_port=False, backlog=128)
        server.settimeout(0.5)
        context = self._tls_context()
        slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        lander = threading.Thread(target=self._landing_loop, name="hl7-land", daemon=True)
        lander.start()
        if ready is not None:
            ready(server.getsockname()[1])
        try:
            while not stop_event.is_set():
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    continue
                if not slots.acquire(blocking=False):
                    conn.close()  # a flood beyond the connection bound: the sender retries later
                    continue
                threading.Thread(target=self._connection, args=(conn, context, slots), daemon=True).start()
        finally:
            server.close()
            self._stop.set()
            self._land_now.set()
            lander.join(timeout=60)
            self.wal.close()
            try:
                self.land()
            except RadlakeError as exc:
                log.warning("HL7 landing left for the next start: %s", exc)
        return self.counters

    def _connection(
        self, conn: socket.socket, context: ssl.SSLContext | None, slots: threading.BoundedSemaphore
    ) -> None:
        try:
            if context is not None:
                conn.settimeout(30)
                try:
                    conn = context.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    conn.close()
                    return
            self.serve_connection(conn)
        finally:
            slots.release()

    def _tls_context(self) -> ssl.SSLContext | None:
        tls = self.cfg.tls
        if tls is None:
            return None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(tls.cert), str(tls.key))
        if tls.ca is not None:
            context.load_verify_locations(str(tls.ca))
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def listen(
    settings: Settings,
    host: str,
    port: int,
    *,
    stop_event: threading.Event,
    ready: Callable[[int], None] | None = None,
) -> Counters:
    """Run the HL7 listener until ``stop_event`` is set (see :class:`Hl7Listener`)."""
    if not settings.hl7.allowed_facilities:
        log.warning("hl7.allowed_facilities is empty: messages from any sending facility are taken")
    return Hl7Listener(settings).serve(host, port, stop_event=stop_event, ready=ready)
