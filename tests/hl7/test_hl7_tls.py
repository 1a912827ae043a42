"""The HL7 listener over mutual TLS: a sender with a certificate from the CA gets AA; plain MLLP and a TLS
sender without a certificate get nothing and store nothing."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dicom"))
from test_dicom_receiver_security import _write_pki

from ingestion.hl7.listener import Hl7Listener
from radlake.config import Settings

MESSAGE = b"MSH|^~\\&|RIS|H03RIS|RL|RL|20261103093000||ADT^A08|T1|P|2.5\rPID|1||M1||X"


def _exchange(sock: socket.socket) -> bytes:
    sock.sendall(b"\x0b" + MESSAGE + b"\x1c\r")
    answer = b""
    while not answer.endswith(b"\x1c\r"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


@pytest.mark.slow
def test_mutual_tls(tmp_path: Path) -> None:
    pki = _write_pki(tmp_path / "pki")
    tls = {"cert": str(pki["server_cert"]), "key": str(pki["server_key"]), "ca": str(pki["ca"])}
    settings = Settings(lake=str(tmp_path / "lake"), hl7={"tls": tls, "allowed_facilities": {"H03RIS": "h03"}})
    listener = Hl7Listener(settings)
    stop, ready, port = threading.Event(), threading.Event(), []
    server = threading.Thread(
        target=listener.serve,
        args=("127.0.0.1", 0),
        kwargs={"stop_event": stop, "ready": lambda p: (port.append(p), ready.set())},
    )
    server.start()
    assert ready.wait(30)
    try:
        with socket.create_connection(("127.0.0.1", port[0]), timeout=10) as plain:
            try:
                plain_answer = _exchange(plain)
            except OSError:
                plain_answer = b""
        bare = ssl.create_default_context(cafile=str(pki["ca"]))
        anon_answer = b""
        try:
            with bare.wrap_socket(
                socket.create_connection(("127.0.0.1", port[0]), timeout=10), server_hostname="127.0.0.1"
            ) as anon:
                anon_answer = _exchange(anon)
        except OSError:  # ssl.SSLError is one: the listener refused the handshake
            pass
        ctx = ssl.create_default_context(cafile=str(pki["ca"]))
        ctx.load_cert_chain(str(pki["client_cert"]), str(pki["client_key"]))
        with ctx.wrap_socket(
            socket.create_connection(("127.0.0.1", port[0]), timeout=10), server_hostname="127.0.0.1"
        ) as good:
            answer = _exchange(good)
    finally:
        stop.set()
        server.join(60)
    assert plain_answer == b"" and anon_answer == b""
    assert b"MSA|AA|T1" in answer
    assert listener.counters.accepted == 1
