"""An export bag written to an S3 prefix: every file and the manifests land, and the manifests match the objects."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest

from transforms.export.bag import write_bag
from transforms.export.sink import Sink

pytestmark = pytest.mark.integration


def test_bag_on_s3(s3_bucket: str, s3_keys: Callable[[str], list[str]]) -> None:
    sink = Sink(f"s3://{s3_bucket}/exports/proj")
    payload = []
    for i in range(3):
        data = f"instance {i}".encode() * 100
        path = f"data/2.25.1/2.25.2/2.25.{i}.dcm"
        sink.write(path, data)
        payload.append((path, hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), len(data)))
    write_bag(sink, payload, {"External-Identifier": "proj"})
    keys = {k.removeprefix("exports/proj/") for k in s3_keys(f"s3://{s3_bucket}/exports/proj")}
    assert keys == {p for p, *_ in payload} | {
        "bagit.txt",
        "bag-info.txt",
        "manifest-sha256.txt",
        "manifest-md5.txt",
        "tagmanifest-sha256.txt",
    }
    manifest = (sink.read("manifest-sha256.txt") or b"").decode().splitlines()
    for line in manifest:
        digest, path = line.split(" ", 1)
        assert hashlib.sha256(sink.read(path) or b"").hexdigest() == digest
    assert "Payload-Oxum: 3000.3" in (sink.read("bag-info.txt") or b"").decode()
    assert sink.read("data/absent.dcm") is None
