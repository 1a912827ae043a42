"""The receiver's port facing hostile peers: allow-list, TLS, paths from peer text, PDU and instance limits."""

from __future__ import annotations

import datetime as dt
import logging
import re
import shutil
import socket
import struct
import time
from pathlib import Path

import pydicom
import pytest
from dicom_corpus import dataset_bytes, make_dataset
from receiver_harness import landed_files, running_receiver, stored_files, storescu, wait_for

from ingestion.dicom.receiver import inside, safe_name
from radlake.config import DicomConfig, ReceiverConfig, ReceiverTLS, Settings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("storescu") is None, reason="needs DCMTK's storescu (apt-get install dcmtk)"),
]
UID = "1.2.826.0.1.3680043.10.543.121"


def _settings(tmp_path: Path, **receiver: object) -> Settings:
    return Settings(lake=str(tmp_path / "lake"), dicom=DicomConfig(receiver=ReceiverConfig(**receiver)))


def _outbox(tmp_path: Path, n: int, start: int = 1, **values: object) -> list[Path]:
    box = tmp_path / f"outbox{start}"
    box.mkdir(exist_ok=True)
    out = []
    for i in range(start, start + n):
        path = box / f"IM{i}"
        path.write_bytes(dataset_bytes(make_dataset(f"{UID}.{i}", **values)))
        out.append(path)
    return out


@pytest.mark.parametrize(
    ("peer", "expected"),
    [("..", "UNKNOWN-"), ("../../etc", "etc-"), ("/abs", "abs-"), ("CT.01", "CT_01-"), ("  ", "UNKNOWN"),
     ("a\x00b/c", "a_b_c-"), ("CT_SCANNER", "CT_SCANNER"), ("x" * 40, "x" * 16 + "-")],
)  # fmt: skip
def test_folder_names_from_peer_text_are_single_safe_components(tmp_path: Path, peer: str, expected: str) -> None:
    name = safe_name(peer)
    assert name == expected or (expected.endswith("-") and re.fullmatch(re.escape(expected) + "[0-9a-f]{8}", name))
    assert inside(tmp_path, tmp_path / name / "20260101").parent.parent == tmp_path.resolve()


def test_titles_that_differ_only_in_unsafe_characters_get_their_own_folders() -> None:
    names = {safe_name(t) for t in ("CT.1", "CT_1", "CT/1", "CT 1", "CT\x001")}
    assert len(names) == 5


def test_a_symlink_planted_in_storage_cannot_lead_out(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "EVIL").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(OSError, match="outside the storage folder"):
        inside((tmp_path / "store").resolve(), tmp_path / "store" / "EVIL" / "x")


def test_calling_ae_outside_the_allow_list_is_rejected_and_nothing_stored(tmp_path: Path) -> None:
    settings = _settings(tmp_path, allowed_calling_aets=["CT_SCANNER", "PACS"])
    storage = tmp_path / "received"
    sent = _outbox(tmp_path, 2)
    with running_receiver(settings, storage) as port:
        refused = storescu(port, sent, "..")
        assert refused.returncode != 0
        assert "rejected" in (refused.stdout + refused.stderr).lower()
        refused = storescu(port, sent, "MODALITY1")
        assert refused.returncode != 0
        assert stored_files(storage) == []
        assert not list(storage.parent.glob("*.dcm"))  # nothing beside storage either
        accepted = storescu(port, sent, "CT_SCANNER")
        assert accepted.returncode == 0, accepted.stderr
        wait_for(lambda: len(landed_files(settings)) == 2, what="2 landed files")
    files = landed_files(settings)
    assert {r["source"] for r in files} == {"dicom:CT_SCANNER"}
    assert all(Path(r["file_path"]).is_relative_to(storage.resolve() / "CT_SCANNER") for r in files)


def test_empty_allow_list_warns_at_start_and_hostile_ae_stays_inside_storage(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(tmp_path)
    storage = tmp_path / "a" / "received"
    sent = _outbox(tmp_path, 1)
    caplog.set_level(logging.WARNING, logger="ingestion.dicom.receiver")
    with running_receiver(settings, storage) as port:
        result = storescu(port, sent, "..")
        assert result.returncode == 0, result.stderr
        wait_for(lambda: len(landed_files(settings)) == 1, what="1 landed file")
    assert any("allowed_calling_aets is empty" in r.getMessage() for r in caplog.records)
    (stored,) = stored_files(tmp_path)  # the only .dcm anywhere under tmp_path besides the outbox
    assert stored.is_relative_to(storage.resolve() / safe_name(".."))
    assert safe_name("..").startswith("UNKNOWN-")


def _write_pki(folder: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all made here (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    folder.mkdir(parents=True, exist_ok=True)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def save_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        )
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("radlake test CA"))
        .issuer_name(name("radlake test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    out = {"ca": folder / "ca.pem"}
    out["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for role, usage in (("server", ExtendedKeyUsageOID.SERVER_AUTH), ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(f"radlake test {role}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if role == "server":
            import ipaddress

            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        cert = builder.sign(ca_key, hashes.SHA256())
        out[f"{role}_cert"] = folder / f"{role}.pem"
        out[f"{role}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        out[f"{role}_key"] = save_key(key, folder / f"{role}.key")
    return out


@pytest.mark.slow
def test_tls_with_a_client_certificate_from_the_ca_is_accepted_plain_and_certless_are_not(tmp_path: Path) -> None:
    pki = _write_pki(tmp_path / "pki")
    tls = ReceiverTLS(cert=pki["server_cert"], key=pki["server_key"], ca=pki["ca"])
    settings = _settings(tmp_path, tls=tls, allowed_calling_aets=["CT_SCANNER"])
    storage = tmp_path / "received"
    sent = _outbox(tmp_path, 2)
    client_tls = ("+tls", str(pki["client_key"]), str(pki["client_cert"]), "+cf", str(pki["ca"]))
    with running_receiver(settings, storage) as port:
        plain = storescu(port, sent, "CT_SCANNER")
        assert plain.returncode != 0  # no TLS: the handshake fails, nothing is received
        anonymous = storescu(port, sent, "CT_SCANNER", "+tla", "+cf", str(pki["ca"]))
        assert anonymous.returncode != 0  # TLS without a client certificate: refused (mutual TLS)
        assert stored_files(storage) == []
        secure = storescu(port, sent, "CT_SCANNER", *client_tls)
        assert secure.returncode == 0, secure.stdout + secure.stderr
        wait_for(lambda: len(landed_files(settings)) == 2, what="2 landed files")
    by_uid = {pydicom.dcmread(p).SOPInstanceUID: p for p in stored_files(storage)}
    for original in sent:
        ds = pydicom.dcmread(original)
        assert pydicom.dcmread(by_uid[ds.SOPInstanceUID]) == ds


def test_an_instance_over_the_size_limit_is_cut_off_and_nothing_is_stored(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_instance_bytes=1 << 20, max_pdu_bytes=16384)
    storage = tmp_path / "received"
    ds = make_dataset(f"{UID}.1", Rows=1024, Columns=1536)
    ds.PixelData = bytes(3 << 20)  # 3 MiB
    big = [tmp_path / "big.dcm"]
    big[0].write_bytes(dataset_bytes(ds))
    small = _outbox(tmp_path, 1, start=2)
    with running_receiver(settings, storage) as port:
        result = storescu(port, big, "MODALITY1")
        assert result.returncode != 0  # the connection was cut mid-transfer
        wait_for(lambda: not list((storage / ".incoming").iterdir()), what="no partial data set left")
        assert stored_files(storage) == []
        result = storescu(port, small, "MODALITY1")  # the port still serves normal instances
        assert result.returncode == 0, result.stderr
        wait_for(lambda: len(landed_files(settings)) == 1, what="1 landed file")
    assert [pydicom.dcmread(p).SOPInstanceUID for p in stored_files(storage)] == [f"{UID}.2"]


def test_a_pdu_announcing_more_than_the_limit_closes_the_connection_unread(tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_pdu_bytes=16384)
    storage = tmp_path / "received"
    with running_receiver(settings, storage) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            # An A-ASSOCIATE-RQ header announcing 1 GiB, then a little of it: the receiver must not wait for
            # (or allocate) the rest, but drop the connection.
            conn.sendall(b"\x01\x00" + struct.pack(">I", 1 << 30) + b"\x00" * 1024)
            started = time.monotonic()
            assert conn.recv(65536) == b""  # closed by the receiver
            assert time.monotonic() - started < 10
        result = storescu(port, _outbox(tmp_path, 1), "MODALITY1")
        assert result.returncode == 0, result.stderr
        wait_for(lambda: len(landed_files(settings)) == 1, what="1 landed file")


@pytest.mark.slow
def test_a_large_instance_streams_to_disk_and_is_never_held_whole(tmp_path: Path) -> None:
    import tracemalloc

    settings = _settings(tmp_path)
    storage = tmp_path / "received"
    ds = make_dataset(f"{UID}.40", Rows=4096, Columns=3072)
    ds.PixelData = bytes(range(256)) * (96 << 10)  # 24 MiB
    big = tmp_path / "big.dcm"
    big.write_bytes(dataset_bytes(ds))
    del ds
    with running_receiver(settings, storage) as port:
        # A small instance first, so what the first landing imports is not counted.
        assert storescu(port, _outbox(tmp_path, 1, start=41), "MODALITY1").returncode == 0
        wait_for(lambda: len(landed_files(settings)) == 1, what="1 landed file")
        tracemalloc.start()
        try:
            base, _ = tracemalloc.get_traced_memory()
            result = storescu(port, [big], "MODALITY1")
            wait_for(lambda: len(landed_files(settings)) == 2, what="2 landed files")
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert result.returncode == 0, result.stderr
    grew = peak - base
    assert grew < 8 << 20, f"receiving a 24 MiB instance allocated {grew >> 20} MiB at peak"
    stored = next(p for p in stored_files(storage) if p.name.startswith(f"{UID}.40"))
    assert pydicom.dcmread(stored).PixelData == pydicom.dcmread(big).PixelData
