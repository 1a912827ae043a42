"""Send one batch to one destination: C-STORE over one association (pynetdicom SCU), or files to a folder."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingestion.routing.rules import Destination

log = logging.getLogger(__name__)

MAX_CONTEXTS = 128  # PS3.8: at most 128 presentation contexts in one association

# C-STORE statuses (PS3.4 B.2.3): warnings are stored copies; out-of-resources is worth another try.
_STORED = {0x0000, 0xB000, 0xB006, 0xB007, 0x0107, 0x0116}
_TRANSIENT_HIGH = {0xA7}  # 0xA7xx refused: out of resources
_TRANSIENT = {0x0110, 0x0213}  # processing failure, resource limitation


@dataclass(frozen=True)
class Item:
    """One instance to send: the file to send and what presentation context it needs."""

    sop_instance_uid: str
    sop_class_uid: str
    transfer_syntax_uid: str
    path: str


@dataclass(frozen=True)
class Answer:
    """What became of one item: stored, or not (``permanent``: trying again cannot help)."""

    stored: bool
    status: int | None = None
    error: str = ""
    permanent: bool = False


def classify(status: int) -> Answer:
    """An answer from a C-STORE status."""
    if status in _STORED or (status >> 8) == 0xB0:
        return Answer(True, status)
    transient = (status >> 8) in _TRANSIENT_HIGH or status in _TRANSIENT
    return Answer(False, status, f"peer status 0x{status:04X}", permanent=not transient)


_RESULTS = {1: "user rejection", 2: "no reason", 3: "SOP class not supported", 4: "transfer syntax not supported"}


class _HeldCheckpoint(threading.Event):
    """A reactor checkpoint that stays clear (the reactor paused) until :meth:`release`."""

    def __init__(self) -> None:
        super().__init__()
        self._held = True

    def set(self) -> None:
        if not self._held:
            super().set()

    def release(self) -> None:
        self._held = False
        super().set()


class BatchFailed(Exception):
    """The whole batch could not be sent (no association, or it broke): every unanswered item is retried.

    ``in_doubt``: the SOP Instance UID whose data went out and whose status never came back, if known.
    """

    def __init__(self, message: str, in_doubt: str | None = None) -> None:
        super().__init__(message)
        self.in_doubt = in_doubt


def _tls(dest: Destination) -> tuple[ssl.SSLContext, str] | None:
    if dest.tls is None or dest.peer is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(dest.tls.ca) if dest.tls.ca else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if dest.tls.cert and dest.tls.key:
        ctx.load_cert_chain(str(dest.tls.cert), str(dest.tls.key))
    return ctx, dest.peer.host


def send_dicom(
    dest: Destination, items: list[Item], timeout: float, on_answer: object, on_try: object = lambda item: None
) -> None:
    """C-STORE ``items`` over one association: ``on_try(item)`` before each, ``on_answer(item, Answer)`` as
    each status arrives.

    Items whose presentation context the peer rejected get a permanent answer naming the rejection.

    Raises
    ------
    BatchFailed
        The association could not be made, or broke mid-batch (items not yet answered stay unanswered).
    """
    from pynetdicom import AE

    assert dest.peer is not None and callable(on_answer) and callable(on_try)
    ae = AE(ae_title=dest.calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout
    pairs = sorted({(i.sop_class_uid, i.transfer_syntax_uid) for i in items})[:MAX_CONTEXTS]
    for sop_class, syntax in pairs:
        ae.add_requested_context(sop_class, [syntax])
    tls = _tls(dest)
    assoc = ae.associate(dest.peer.host, dest.peer.port, ae_title=dest.peer.ae_title, tls_args=tls)
    # The peer's answer per presentation context (PS3.8 9.3.3.2): 1 user rejection, 2 no reason,
    # 3 abstract syntax (SOP class) not supported, 4 transfer syntax not supported. When it refuses every
    # context, pynetdicom aborts the association, yet the answers are known.
    refused = {str(c.abstract_syntax): c.result for c in assoc.rejected_contexts}  # by SOP class
    if not assoc.is_established and not (assoc.is_aborted and refused and len(refused) == len({p[0] for p in pairs})):
        why = "association rejected" if assoc.is_rejected else "association aborted" if assoc.is_aborted else ""
        raise BatchFailed(why or f"cannot connect to {dest.peer.host}:{dest.peer.port}")
    held = _HeldCheckpoint()
    if assoc.is_established:
        # Without TCP_NODELAY each small response waits on the peer's delayed ACK (~40 ms an instance).
        sock = getattr(getattr(assoc.dul, "socket", None), "socket", None)
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # pynetdicom resumes its reactor thread after each C-STORE and pauses it before the next; a fast
        # response can land in that gap, be taken by the reactor ("unexpected C-STORE service message") and
        # the sender waits out the DIMSE timeout. We only send on this association: keep the reactor paused.
        assoc._reactor_checkpoint = held  # type: ignore[attr-defined]
    try:
        wanted = set(pairs)
        for item in items:
            key = (item.sop_class_uid, item.transfer_syntax_uid)
            if key not in wanted:
                continue  # past the 128 contexts of this association: the next batch
            result = refused.get(item.sop_class_uid)
            if result is not None:
                why = f"peer refused the presentation context (result {result}: {_RESULTS.get(result, 'unknown')})"
                on_answer(item, Answer(False, None, why, permanent=int(result) in (3, 4)))
                continue
            if not assoc.is_established:
                raise BatchFailed("the association broke mid-batch")
            on_try(item)
            status = assoc.send_c_store(Path(item.path))
            if "Status" not in status:
                raise BatchFailed("no C-STORE response (timeout or connection lost)")
            on_answer(item, classify(int(status.Status)))
    finally:
        held.release()
        if assoc.is_established:
            assoc.release()


def send_folder(dest: Destination, items: list[tuple[Item, bytes, str]], on_answer: object) -> None:
    """Write each item's bytes as ``<folder>/<relative>`` (a local folder or an S3 prefix), whole or not at all."""
    import os

    assert dest.folder is not None and callable(on_answer)
    s3 = dest.folder.startswith("s3://")
    fs = None
    if s3:
        import pyarrow.fs as pafs

        fs = pafs.S3FileSystem(
            endpoint_override=os.environ.get("AWS_ENDPOINT_URL") or None,
            region=os.environ.get("AWS_REGION", "us-east-1"),
        )
    for item, data, relative in items:
        try:
            if fs is not None:
                with fs.open_output_stream(f"{dest.folder.removeprefix('s3://').rstrip('/')}/{relative}") as out:
                    out.write(data)
            else:
                target = Path(dest.folder) / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(target.name + ".part")
                tmp.write_bytes(data)
                os.replace(tmp, target)
        except OSError as exc:
            raise BatchFailed(f"cannot write to {dest.folder}: {exc.strerror or type(exc).__name__}") from None
        on_answer(item, Answer(True, None))


# --- DCMTK storescu as the transport of plain (non-TLS) DICOM destinations -------------------------------
#
# pynetdicom costs about 2 ms of CPU per C-STORE (its DIMSE and PDU layers are Python); DCMTK's storescu
# sends the same files at more than ten times the rate. storescu writes each peer answer to a log file
# (immediate flush) before it sends the next file, so that log is the batch's journal: it is parsed while
# storescu runs (progress) and, after a kill -9 of the router, by the next start. storescu runs in its own
# session, so killing the router does not kill the batch in flight: it finishes, and its log says what the
# peer stored.

STORESCU_LOG_CONFIG = """\
log4cplus.rootLogger = INFO, file
log4cplus.appender.file = log4cplus::FileAppender
log4cplus.appender.file.File = {log}
log4cplus.appender.file.ImmediateFlush = true
log4cplus.appender.file.layout = log4cplus::PatternLayout
log4cplus.appender.file.layout.ConversionPattern = %m%n
log4cplus.appender.file.filters.1 = log4cplus::spi::StringMatchFilter
log4cplus.appender.file.filters.1.StringToMatch = Converting transfer syntax
log4cplus.appender.file.filters.1.AcceptOnMatch = false
log4cplus.appender.file.filters.2 = log4cplus::spi::StringMatchFilter
log4cplus.appender.file.filters.2.StringToMatch = Sending Store Request
log4cplus.appender.file.filters.2.AcceptOnMatch = false
log4cplus.logger.dcmtk.apps.storescu.progress = WARN
"""
# The two filters drop the two info lines per file the router never reads: half the lines storescu writes
# (each an immediate write) and the router parses. At info level storescu's progress logger also writes
# "XMIT: ." to its standard output, flushed, three times per file (three more system calls): held at warn.
_SENDING = "Sending file: "
_STATUS = "Received Store Response ("
# DCMTK's names of C-STORE statuses (dcmnet DU_cstoreStatusString; a range is named by its first code):
# the log line at info level carries the name, not the number (the number needs debug logging, five times the
# lines to write and read).
_STATUS_NAMES = {
    "Success": 0x0000,
    "Refused: OutOfResources": 0xA700,
    "Refused: SOPClassNotSupported": 0x0122,
    "Error: DataSetDoesNotMatchSOPClass": 0xA900,
    "Error: CannotUnderstand": 0xC000,
    "Warning: CoercionOfDataElements": 0xB000,
    "Warning: DataSetDoesNotMatchSOPClass": 0xB007,
    "Warning: ElementsDiscarded": 0xB006,
}
_NO_CONTEXT = "No presentation context for:"
_FAILED = ("Association Request Failed", "Association Rejected", "Association Aborted", "Store Failed")
MAX_STORESCU_ARGS = 1_000_000  # bytes of file paths on one storescu command line (Linux allows 2 MiB in all)
MAX_STORESCU_PAIRS = 60  # two contexts per (SOP class, syntax) (see storescu_profile): stay under 128
_UNCOMPRESSED = ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2")  # explicit, implicit VR little endian


def storescu_profile(items: list[Item]) -> str:
    """An association profile for ``storescu -xf`` proposing two contexts per (SOP class, transfer syntax) of
    ``items``: the file's own syntax alone (what is sent when the peer takes it: byte for byte), and the
    uncompressed syntaxes (storescu converts the file when the peer takes only those).

    What ``storescu -R`` proposes, without its reading every file once more before the association to find
    these pairs: the queue knows them (about a fifth of storescu's CPU per small instance).
    """
    pairs = sorted({(i.sop_class_uid, i.transfer_syntax_uid) for i in items})
    syntaxes = ["[[TransferSyntaxes]]"]
    contexts = ["[[PresentationContexts]]", "[Batch]"]
    n = 0
    for k, (sop_class, syntax) in enumerate(pairs):
        fallback = [t for t in _UNCOMPRESSED if t != syntax]
        syntaxes += [f"[Own{k}]", f"TransferSyntax1 = {syntax}", f"[Other{k}]"]
        syntaxes += [f"TransferSyntax{j + 1} = {t}" for j, t in enumerate(fallback)]
        contexts += [f"PresentationContext{n + 1} = {sop_class}\\Own{k}"]
        contexts += [f"PresentationContext{n + 2} = {sop_class}\\Other{k}"]
        n += 2
    return "\n".join([*syntaxes, "", *contexts, "", "[[Profiles]]", "[Batch]", "PresentationContexts = Batch", ""])


def profile_path(config: Path) -> Path:
    """Where a batch's association profile lives, beside its log configuration ``config``."""
    return config.with_suffix(".profile")


def storescu_available() -> bool:
    """True when DCMTK's storescu is on PATH."""
    import shutil

    return shutil.which("storescu") is not None


class StorescuLog:
    """Reads a storescu log incrementally: the answers for the files it names, and why a batch failed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._pos = 0
        self._tail = b""
        self.current: str | None = None  # the file sent last, not answered yet
        self.failure = ""

    def read(self) -> list[tuple[str, Answer]]:
        """The answers (file path, answer) logged since the last call."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._pos)
                chunk = fh.read()
        except FileNotFoundError:
            return []
        self._pos += len(chunk)
        lines = (self._tail + chunk).split(b"\n")
        self._tail = lines.pop()  # a line storescu is still writing
        out: list[tuple[str, Answer]] = []
        for raw in lines:  # bytes prefixes: only a file's path and a status name are decoded
            if raw.startswith(_SENDING_B):
                self.current = raw[len(_SENDING_B) :].decode("utf-8", "replace")
            elif raw.startswith(_SUCCESS_B) and self.current is not None:
                out.append((self.current, _STORED_ANSWER))
                self.current = None
            elif raw.startswith(_STATUS_B) and self.current is not None:
                out.append((self.current, _answer(raw[len(_STATUS_B) :].decode("utf-8", "replace").rstrip(")"))))
                self.current = None
            elif raw.startswith(_NO_CONTEXT_B) and self.current is not None:
                why = "peer refused the presentation context (SOP class or transfer syntax not supported)"
                out.append((self.current, Answer(False, None, why, permanent=True)))
                self.current = None
            elif raw.startswith(_FAILED_B):
                self.failure = self.failure or raw[:200].decode("utf-8", "replace")
        return out


_SENDING_B, _STATUS_B, _NO_CONTEXT_B = _SENDING.encode(), _STATUS.encode(), _NO_CONTEXT.encode()
_SUCCESS_B = _STATUS_B + b"Success)"
_STORED_ANSWER = Answer(True, 0x0000)
_FAILED_B = tuple(f.encode() for f in _FAILED)


def _answer(name: str) -> Answer:
    """The answer of a status as storescu names it (``Success``, ``Refused: OutOfResources``, ``Unknown Status:
    0xA801``...)."""
    code = _STATUS_NAMES.get(name)
    if code is None and "0x" in name:
        try:
            code = int(name.rsplit("0x", 1)[1], 16)
        except ValueError:
            code = None
    if code is None:
        return Answer(False, None, f"peer status {name[:80]}", permanent=True)
    answer = classify(code)
    return answer if answer.stored else Answer(False, code, f"peer status {name[:80]}", permanent=answer.permanent)


def storescu_running(config: Path) -> list[int]:
    """Process ids of storescu runs started with this log configuration (a router killed mid-batch left it)."""
    out = []
    needle = str(config).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmd.split(b"\0"):
            out.append(int(proc.name))
    return out


class StorescuRun:
    """One batch of ``items`` on its way out through DCMTK storescu, over one association: started at once,
    its log read by :meth:`poll`. ``log`` and ``config`` are the batch's (journaled) log and log configuration.
    """

    def __init__(self, dest: Destination, items: list[Item], timeout: float, log: Path, config: Path) -> None:
        import os
        import subprocess

        assert dest.peer is not None and dest.tls is None
        self.by_path = {i.path: i for i in items}
        self.answered = 0
        config.write_text(STORESCU_LOG_CONFIG.format(log=log))
        profile = profile_path(config)
        profile.write_text(storescu_profile(items))
        cmd = ["storescu", "-lc", str(config), "-xf", str(profile), "Batch", "-nh"]
        cmd += ["-aet", dest.calling_ae, "-aec", dest.peer.ae_title]
        cmd += ["-to", str(max(1, int(timeout))), "-ta", str(max(1, int(timeout))), "-td", str(max(1, int(timeout)))]
        cmd += [dest.peer.host, str(dest.peer.port), *self.by_path]
        env = {**os.environ, "TCP_NODELAY": "1"}  # else each small answer waits on a delayed ACK
        # Its own session: a kill -9 of the router (or its process group) leaves the batch to finish and log.
        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,  # with -lc everything goes to the log
            start_new_session=True,
        )
        self.reader = StorescuLog(log)

    def poll(self, on_answer: Callable[[Item, Answer], None]) -> bool:
        """``on_answer(item, Answer)`` for each status logged since the last call; True once storescu exited
        (and every answer it logged was handed over)."""
        done = self.proc.poll() is not None
        for path, answer in self.reader.read():
            item = self.by_path.get(path)
            if item is not None:
                self.answered += 1
                on_answer(item, answer)
        return done

    def wait(self, seconds: float) -> None:
        """Wait up to ``seconds`` for storescu to exit (returns at once when it does)."""
        import subprocess

        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(seconds)

    def finish(self) -> None:
        """After :meth:`poll` returned True.

        Raises
        ------
        BatchFailed
            storescu could not associate, or the association broke (items not answered stay unanswered).
        """
        reader, by_path = self.reader, self.by_path
        if reader.failure or self.proc.returncode != 0 or reader.current is not None:
            doubt = by_path[reader.current].sop_instance_uid if reader.current in by_path else None
            raise BatchFailed(reader.failure or f"storescu exited with {self.proc.returncode}", doubt)

    def no_association(self) -> bool:
        """storescu ended without an association (nothing of the batch went out)."""
        return self.answered == 0 and self.reader.current is None and self.reader.failure.startswith(_NO_ASSOC)


_NO_ASSOC = ("Association Request Failed", "Association Rejected")
