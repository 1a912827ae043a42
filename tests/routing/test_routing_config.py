"""Routing configuration: bad rules refused at start with one line naming the rule; inline DICOM peers."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from radlake.config import load_settings
from radlake.dicom_peer import DicomPeer, parse_peer
from radlake.errors import ConfigError


def _load(tmp_path: Path, routing: dict) -> None:
    cfg = tmp_path / "radlake.yaml"
    cfg.write_text(yaml.safe_dump({"lake": "lake", "routing": routing}))
    load_settings(cfg)


@pytest.mark.parametrize(
    ("routing", "expected"),
    [
        ({"destinations": {}, "rules": {"chest-ct": {"to": ["nowhere"]}}}, "rule chest-ct: unknown destination"),
        ({"rules": {"chest-ct": {"to": ["dicom://TOOLONGAETITLE_XYZ@h:104"]}}}, "rule chest-ct:"),
        ({"rules": {"chest-ct": {"to": []}}}, "routing.rules.chest-ct.to"),
        (
            {"rules": {"chest-ct": {"match": {"modality": "CT", "colour": ["red"]}, "to": ["dicom://A@h:1"]}}},
            "routing.rules.chest-ct.match",
        ),
        (
            {"rules": {"x": {"match": {"space": "nope"}, "to": ["dicom://A@h:1"]}}},
            "routing.rules.x: unknown data space",
        ),
        ({"destinations": {"ai": {"dicom": "dicom://AI@h:99999"}}}, "routing.destinations.ai"),
        ({"destinations": {"ai": {"folder": "/tmp/x", "tls": {"ca": "ca.pem"}}}}, "tls applies to a dicom:"),
    ],
)
def test_bad_rules_are_refused_in_one_line_naming_them(tmp_path: Path, routing: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, routing)
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_a_good_routing_section_loads_with_paths_beside_the_config(tmp_path: Path) -> None:
    cfg = tmp_path / "radlake.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "routing": {
                    "destinations": {"ai": {"dicom": "dicom://AICHEST@10.0.0.5:11112"}, "copy": {"folder": "out"}},
                    "rules": {"ct": {"match": {"modality": ["CT"]}, "to": ["ai", "copy", "dicom://ARCH@[::1]:104"]}},
                }
            }
        )
    )
    routing = load_settings(cfg).routing
    assert routing.destinations["copy"].folder == str(tmp_path / "out")
    assert routing.rules["ct"].to == ["ai", "copy", "dicom://ARCH@[::1]:104"]


def test_parse_peer() -> None:
    assert parse_peer("dicom://AI_NODE@ai.example.org:11112") == DicomPeer("AI_NODE", "ai.example.org", 11112)
    assert parse_peer("dicom://ARCH@[::1]:104") == DicomPeer("ARCH", "::1", 104)
    assert str(parse_peer("dicom://A@127.0.0.1:104")) == "dicom://A@127.0.0.1:104"
    for bad in ("AI@h:104", "dicom://h:104", "dicom://AI@h", "dicom://AI@h:0", "dicom://A\\B@h:1", "dicom://AI@h/x:1"):
        with pytest.raises(ConfigError):
            parse_peer(bad)
