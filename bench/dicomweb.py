"""Benchmark: DICOMweb of ``radlake serve`` on an index of one million instances, beside Orthanc.

Builds, under the work folder, the three DICOMweb index tables (silver/dicomweb_studies, _series,
_instances) of ``--instances`` synthetic instances in about ``--studies`` studies of the simulator's shapes
(CT, MR, DX, US; Chinese and pinyin names; one CT series of 300 images per study that has one), written
through radlake.lake as the roll-up job would, with a landed header of realistic size per instance. Then

1. starts ``radlake serve`` (a subprocess, ``--workers`` uvicorn processes) on it and times twenty query shapes (patient
   ID, name with wildcard, fuzzy and in Chinese, date range, modality + date, accession, study UID, UID list,
   includefield=all, series of a study, series by modality + date, instances of a series, an instance by
   SOP Instance UID, instances of a study, deep paging of studies and series, an open date range, metadata
   of a 300-instance series and of a study): sequentially (``--repeat`` each) and with 16 concurrent
   clients; p50 and p95 per shape, and the server's CPU seconds;
2. starts Orthanc with its DICOMweb plugin (Debian's packages), stores in it, for ``--orthanc-seconds``, real
   files made from the first studies' synthetic headers (the 300-instance series first), and times the same
   shapes against it, sequentially and with 16 clients. It says how many instances Orthanc held.

Prints one table (radlake p50/p95 at the full index, Orthanc p50/p95 at what it loaded, ratio of p95s)
and the load average. Target: p95 <= 100 ms for every search shape at one million instances on 2 cores,
and faster than Orthanc on every shape.

Run: ``.venv/bin/python bench/dicomweb.py [--instances 1000000] [--workdir /tmp/radlake-dicomweb]``
(``--keep`` reuses an index already written there; ``--orthanc-seconds 0`` times radlake alone).
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import io
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "services"))

from orthanc_harness import orthanc, upload  # noqa: E402
from pypinyin import lazy_pinyin  # noqa: E402
from service_harness import free_port, tree_usage, wait_healthy  # noqa: E402

from radlake import catalog, lake  # noqa: E402
from radlake.config import Settings  # noqa: E402
from radlake.lake import Lake  # noqa: E402
from transforms.dicom.dicomweb import BUCKETS, split_levels  # noqa: E402

FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国"
SHAPES_PER_STUDY = {  # modality: (share of studies, series counts, instances per series)
    "CT": (0.45, (2, 3, 4), (1, 40, 80)),  # and a 300-image first series in every sixth CT study
    "MR": (0.2, (4, 5, 6), (16, 20)),
    "DX": (0.25, (1, 2), (1,)),
    "US": (0.1, (1,), (8, 12)),
}
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SOP_CLASS = {"CT": CT_IMAGE, "MR": "1.2.840.10008.5.1.4.1.1.4", "DX": "1.2.840.10008.5.1.4.1.1.1.1",
             "US": "1.2.840.10008.5.1.4.1.1.6.1"}  # fmt: skip
FIRST_DAY = date(2026, 1, 1)


def _uid(*parts: object) -> str:
    return "2.25." + str(int(hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()[:30], 16))


def _person(rng: random.Random) -> tuple[str, str, str]:
    cn = rng.choice(FAMILY) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))
    py = lazy_pinyin(cn)
    written = rng.choice(
        (cn, f"{py[0].upper()}^{''.join(py[1:]).upper()}", f"{py[0].title()}^{''.join(py[1:]).title()}={cn}")
    )
    return f"P{rng.randrange(10**7):07d}", written, rng.choice("MF")


def _header(study: dict[str, Any], series: dict[str, Any], sop: str, number: int) -> dict[str, Any]:
    """A landed header of realistic size (about 60 attributes, 2-3 kB as JSON)."""

    def el(vr: str, *values: Any) -> dict[str, Any]:
        return {"vr": vr, "Value": list(values)} if values else {"vr": vr}

    name = study["patient_name"]
    groups = name.split("=")
    pn = {"Alphabetic": groups[0]} | ({"Ideographic": groups[1]} if len(groups) > 1 else {})
    day = study["study_date"].strftime("%Y%m%d")
    h = {
        "00080005": el("CS", "ISO_IR 192"), "00080008": el("CS", "ORIGINAL", "PRIMARY", "AXIAL"),
        "00080016": el("UI", SOP_CLASS[series["modality"]]), "00080018": el("UI", sop),
        "00080020": el("DA", day), "00080021": el("DA", day), "00080023": el("DA", day),
        "00080030": el("TM", study["study_time"]), "00080031": el("TM", study["study_time"]),
        "00080033": el("TM", study["study_time"]), "00080050": el("SH", study["accession_number"]),
        "00080060": el("CS", series["modality"]), "00080070": el("LO", "ACME Medical"),
        "00080080": el("LO", study["institution_name"]), "00080090": el("PN", {"Alphabetic": "LI^NA"}),
        "00081010": el("SH", "CT01"), "00081030": el("LO", study["study_description"]),
        "0008103E": el("LO", series["series_description"]), "00081090": el("LO", "Model X9"),
        "00100010": el("PN", pn), "00100020": el("LO", study["patient_id"]),
        "00100030": el("DA", "19700215"), "00100040": el("CS", study["patient_sex"]),
        "00101010": el("AS", "056Y"), "00180015": el("CS", "CHEST"), "00180050": el("DS", 1.25),
        "00180060": el("DS", 120), "00181020": el("LO", "V1.0"), "00181030": el("LO", "Routine chest"),
        "00181150": el("IS", 500), "00181151": el("IS", 250), "00181152": el("IS", 125),
        "00181210": el("SH", "STANDARD"), "00185100": el("CS", "HFS"),
        "0020000D": el("UI", study["study_instance_uid"]), "0020000E": el("UI", series["series_instance_uid"]),
        "00200010": el("SH", study["study_id"]), "00200011": el("IS", series["series_number"]),
        "00200013": el("IS", number), "00200032": el("DS", -250.0, -250.0, -number * 1.25),
        "00200037": el("DS", 1, 0, 0, 0, 1, 0), "00200052": el("UI", series["series_instance_uid"] + ".1"),
        "00201040": el("LO"), "00201041": el("DS", -number * 1.25), "00280002": el("US", 1),
        "00280004": el("CS", "MONOCHROME2"), "00280010": el("US", 512), "00280011": el("US", 512),
        "00280030": el("DS", 0.7, 0.7), "00280100": el("US", 16), "00280101": el("US", 12),
        "00280102": el("US", 11), "00280103": el("US", 0), "00281050": el("DS", 40), "00281051": el("DS", 400),
        "00281052": el("DS", -1024), "00281053": el("DS", 1), "00400244": el("DA", day),
        "00400245": el("TM", study["study_time"]),
        "00400275": el("SQ", {"00400009": el("SH", "SPS" + study["accession_number"]),
                              "00401001": el("SH", "RP" + study["accession_number"])}),
    }  # fmt: skip
    return h


def synthesize(n_instances: int, seed: int = 11) -> tuple[list[dict], list[dict], list[dict]]:
    """Studies, series and instance rows (instances with header_json) until ``n_instances`` instances."""
    rng = random.Random(seed)
    patients = [_person(rng) for _ in range(max(10, n_instances // 170))]
    studies: list[dict] = []
    series_rows: list[dict] = []
    instances: list[dict] = []
    s = 0
    while len(instances) < n_instances:
        modality = rng.choices(list(SHAPES_PER_STUDY), [v[0] for v in SHAPES_PER_STUDY.values()])[0]
        _, series_counts, sizes = SHAPES_PER_STUDY[modality]
        pid, name, sex = rng.choice(patients)
        day = FIRST_DAY + timedelta(days=rng.randrange(300))
        study = {
            "study_instance_uid": _uid("study", s), "patient_id": pid, "patient_name": name, "patient_sex": sex,
            "accession_number": f"A{s:08d}", "study_date": day,
            "study_time": f"{rng.randrange(7, 20):02d}{rng.randrange(60):02d}00",
            "study_id": str(s), "study_description": f"{modality} routine", "institution_name": f"Hospital {s % 5 + 1}",
        }  # fmt: skip
        n_series = rng.choice(series_counts)
        count = 0
        for k in range(n_series):
            size = 300 if modality == "CT" and k == 0 and s % 6 == 0 else rng.choice(sizes)
            se = {"series_instance_uid": _uid("series", s, k), "modality": modality, "series_number": k + 1,
                  "series_description": f"{modality} series {k + 1}"}  # fmt: skip
            for i in range(size):
                sop = _uid("sop", s, k, i)
                instances.append({"study": study, "series": se, "sop": sop, "number": i + 1})
            series_rows.append({**se, "study_instance_uid": study["study_instance_uid"], "instance_count": size,
                                "study": study})  # fmt: skip
            count += size
        study.update(modalities=[modality], series_count=n_series, instance_count=count)
        studies.append(study)
        s += 1
    return studies, series_rows, instances


def write_index(settings: Settings, studies: list[dict], series: list[dict], instances: list[dict]) -> None:
    """The three index tables, through radlake.lake (the roll-up job's schema; buckets as the job makes them)."""
    now = pa.scalar(int(time.time() * 1e6), pa.timestamp("us", tz="UTC")).as_py()
    first = {se["series_instance_uid"]: None for se in series}
    for inst in instances:  # each series' first instance gives its and its study's level attributes
        if first[inst["series"]["series_instance_uid"]] is None:
            first[inst["series"]["series_instance_uid"]] = split_levels(
                orjson.dumps(_header(inst["study"], inst["series"], inst["sop"], inst["number"])).decode()
            )
    study_rows = []
    study_level = {}
    for se in series:
        study_level.setdefault(se["study_instance_uid"], first[se["series_instance_uid"]])
    for st in studies:
        lv = study_level[st["study_instance_uid"]]
        study_rows.append({**{k: st[k] for k in ("study_instance_uid", "patient_id", "patient_name", "patient_sex",
                           "accession_number", "study_date", "study_time", "study_id", "study_description",
                           "institution_name", "modalities", "series_count", "instance_count")},
                           "patient_birth_date": "19700215", "referring_physician_name": "LI^NA",
                           "sop_classes": [SOP_CLASS[st["modalities"][0]]], "study_json": lv["study_json"],
                           "last_ingested_at": now})  # fmt: skip
    series_out = []
    for se in series:
        lv = first[se["series_instance_uid"]]
        st = se["study"]
        series_out.append({**{k: se[k] for k in ("series_instance_uid", "study_instance_uid", "modality",
                           "series_number", "series_description", "instance_count")},
                           "series_date": st["study_date"].strftime("%Y%m%d"), "series_time": st["study_time"],
                           "body_part_examined": "CHEST", "institution_name": st["institution_name"],
                           "pps_start_date": lv["pps_start_date"], "pps_start_time": lv["pps_start_time"],
                           "scheduled_step_ids": lv["scheduled_step_ids"],
                           "requested_procedure_ids": lv["requested_procedure_ids"],
                           "series_json": lv["series_json"], "last_ingested_at": now})  # fmt: skip
    for name, rows in (("dicomweb_studies", study_rows), ("dicomweb_series", series_out)):
        Lake(settings).table("silver", name).replace(rows)
    instances_table = Lake(settings).table("silver", "dicomweb_instances")
    by_bucket: dict[int, list[dict]] = {}
    for inst in instances:
        uid = inst["study"]["study_instance_uid"]
        bucket = int(hashlib.sha256(uid.encode()).hexdigest()[:2], 16) % BUCKETS
        by_bucket.setdefault(bucket // 16, []).append((bucket, inst))  # type: ignore[arg-type]
    for n, group in sorted(by_bucket.items()):
        rows = []
        for bucket, inst in group:  # type: ignore[misc]
            header = orjson.dumps(_header(inst["study"], inst["series"], inst["sop"], inst["number"])).decode()
            rows.append({"sop_instance_uid": inst["sop"], "series_instance_uid": inst["series"]["series_instance_uid"],
                         "study_instance_uid": inst["study"]["study_instance_uid"],
                         "sop_class_uid": SOP_CLASS[inst["series"]["modality"]], "instance_number": inst["number"],
                         "rows": 512, "columns": 512, "bits_allocated": 16, "number_of_frames": None,
                         "transfer_syntax_uid": "1.2.840.10008.1.2.1", "file_path": f"/nonexistent/{inst['sop']}",
                         "file_sha256": "0" * 64, "header_json": header, "ingested_at": now,
                         "study_bucket": bucket})  # fmt: skip
        instances_table.append(pa.Table.from_pylist(rows), app_id="bench:dicomweb", txn_version=n + 1)


def shapes(studies: list[dict], series: list[dict], instances: list[dict]) -> list[tuple[str, str, dict[str, str]]]:
    """The twenty query shapes (name, path, parameters), with values taken from the synthetic rows."""
    big = next(se for se in series if se["instance_count"] == 300)
    st = big["study"]
    multi = next(s for s in studies if s["series_count"] >= 5)
    one = studies[len(studies) // 2]
    cn = next(s for s in studies if "=" not in s["patient_name"] and "^" not in s["patient_name"])
    pinyin = " ".join(lazy_pinyin(cn["patient_name"]))
    day = one["study_date"]
    week = f"{day:%Y%m%d}-{day + timedelta(days=6):%Y%m%d}"
    sop = next(i["sop"] for i in instances if i["series"]["series_instance_uid"] == big["series_instance_uid"])
    return [
        ("patient ID", "studies", {"PatientID": st["patient_id"]}),
        ("name wildcard", "studies", {"PatientName": "ZHANG^WEI*"}),
        ("name fuzzy (pinyin)", "studies", {"PatientName": pinyin, "fuzzymatching": "true"}),
        ("name Chinese", "studies", {"PatientName": cn["patient_name"]}),
        ("date range (week)", "studies", {"StudyDate": week}),
        ("modality + date", "studies", {"ModalitiesInStudy": "MR", "StudyDate": week}),
        ("accession", "studies", {"AccessionNumber": one["accession_number"]}),
        ("study UID", "studies", {"StudyInstanceUID": st["study_instance_uid"]}),
        ("UID list (10)", "studies", {"StudyInstanceUID": ",".join(s["study_instance_uid"] for s in studies[:10])}),
        ("includefield=all", "studies", {"PatientID": st["patient_id"], "includefield": "all"}),
        ("series of a study", f"studies/{multi['study_instance_uid']}/series", {}),
        ("series modality+date", "series", {"Modality": "MR", "StudyDate": f"{day:%Y%m%d}"}),
        ("instances of a series", f"studies/{st['study_instance_uid']}/series/{big['series_instance_uid']}/instances",
         {}),
        ("instance by SOP UID", "instances", {"SOPInstanceUID": sop, "StudyInstanceUID": st["study_instance_uid"]}),
        ("instances of a study", f"studies/{multi['study_instance_uid']}/instances", {}),
        ("deep paging studies", "studies", {"limit": "100", "offset": str(len(studies) - 150)}),
        ("deep paging series", "series", {"Modality": "CT", "limit": "100", "offset": "5000"}),
        ("open date range", "studies", {"StudyDate": f"{day:%Y%m%d}-", "limit": "10"}),
        ("metadata 300-instance series",
         f"studies/{st['study_instance_uid']}/series/{big['series_instance_uid']}/metadata", {}),
        ("metadata of a study", f"studies/{multi['study_instance_uid']}/metadata", {}),
    ]  # fmt: skip


def _query(params: dict[str, str]) -> str:
    from urllib.parse import quote

    return "&".join(f"{k}={quote(v, safe='^*,')}" for k, v in params.items())


class _Connection:
    """One keep-alive HTTP/1.1 connection of the load generator (``http.client``: far less client CPU per
    request than an httpx client, so the 16 client threads leave the 2 cores to the servers)."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        parts = urlsplit(base)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._prefix = parts.path
        self._headers = {**headers, "Accept": "*/*"}
        self._conn = http.client.HTTPConnection(self._host, self._port, timeout=300)

    def get(self, url: str) -> int:
        """One GET (the whole body read); reconnects once if the server closed the connection."""
        for attempt in (1, 2):
            try:
                self._conn.request("GET", self._prefix + url, headers=self._headers)
                response = self._conn.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, ConnectionError):
                self._conn.close()
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=300)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self._conn.close()


def time_shapes(base: str, headers: dict[str, str], table: list[tuple[str, str, dict[str, str]]], repeat: int,
                clients: int, cpu: Callable[[], float] | None = None) -> dict[str, dict[str, float]]:  # fmt: skip
    """p50/p95 (ms) per shape: ``repeat`` sequential requests, then ``clients`` threads of ``repeat`` each, each
    thread on its own keep-alive connection (a closed loop: a client sends its next request when the last
    answer is read). With ``cpu`` (the server's CPU seconds so far), also the server's CPU ms per request."""
    out: dict[str, dict[str, float]] = {}
    conns = [_Connection(base, headers) for _ in range(clients)]
    try:
        for name, path, params in table:
            url = f"{path}?{_query(params)}" if params else path
            status = conns[0].get(url)  # warm
            cpu0 = cpu() if cpu else 0.0
            seq = []
            for _ in range(repeat):
                t = time.perf_counter()
                conns[0].get(url)
                seq.append((time.perf_counter() - t) * 1000)
            conc: list[float] = []
            lock = threading.Lock()

            def worker(
                conn: _Connection, url: str = url, conc: list[float] = conc, lock: threading.Lock = lock
            ) -> None:
                for _ in range(repeat):
                    t = time.perf_counter()
                    conn.get(url)
                    with lock:
                        conc.append((time.perf_counter() - t) * 1000)

            with ThreadPoolExecutor(clients) as pool:
                for f in [pool.submit(worker, c) for c in conns]:
                    f.result()
            out[name] = {"status": status, "p50": statistics.median(seq), "p95": _p95(seq),
                         "c50": statistics.median(conc), "c95": _p95(conc),
                         "cpu_ms": (cpu() - cpu0) * 1000 / (len(seq) + len(conc)) if cpu else float("nan")}  # fmt: skip
    finally:
        for c in conns:
            c.close()
    return out


def _p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def dicom_files(instances: list[dict]) -> Iterator[bytes]:
    """Real files for Orthanc from the instances' synthetic headers (small pixel data), made as they are sent."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset

    for inst in instances:
        header = _header(inst["study"], inst["series"], inst["sop"], inst["number"])
        header["00280010"] = header["00280011"] = {"vr": "US", "Value": [2]}
        ds = Dataset.from_json(header)
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        ds.PixelData = b"\x00" * 8
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        yield buf.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radlake-dicomweb"))
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--orthanc-seconds", type=float, default=180)
    parser.add_argument("--keep", action="store_true", help="reuse an index already built in the work folder")
    parser.add_argument("--workers", type=int, default=1, help="serve.workers of the radlake server")
    args = parser.parse_args()
    work: Path = args.workdir
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    studies, series, instances = synthesize(args.instances)
    # The study with the 300-instance series goes first, so that Orthanc holds it whatever it manages to load.
    big = next(se for se in series if se["instance_count"] == 300)["study"]
    instances.sort(key=lambda i: i["study"] is not big)  # stable: the rest keep their order
    print(f"synthetic: {len(studies):,} studies, {len(series):,} series, {len(instances):,} instances "
          f"({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    settings = Settings(lake=str(work / "lake"))
    if (
        not args.keep
        or lake.table_version(settings, catalog.table_uri(settings, catalog.table("silver", "dicomweb_instances")))
        is None
    ):
        t = time.perf_counter()
        write_index(settings, studies, series, instances)
        print(f"index written through radlake.lake in {time.perf_counter() - t:.0f} s")
    table = shapes(studies, series, instances)
    port = free_port()
    config = work / "radlake.yaml"
    config.write_text(
        f"lake: {work / 'lake'}\nspaces:\n  group:\n    identified: true\nserve:\n  port: {port}\n"
        f"  tokens_file: {work / 'tokens.json'}\n  rate_per_minute: 10000000\n  max_matches: 100000\n"
        f"  workers: {args.workers}\n",
        encoding="utf-8",
    )
    from services import issue_token

    token = issue_token(Settings(lake=str(work / "lake"), spaces={"group": {"identified": True}},
                                 serve={"tokens_file": str(work / "tokens.json")}), "group")  # fmt: skip
    log = (work / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "radlake"), "serve", "--config", str(config), "--host", "127.0.0.1"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "RADLAKE_CONFIG": str(config)},
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{port}/spaces/group/dicomweb/"
    started = datetime.now(UTC)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", server, 120)
        t = time.perf_counter()
        for _ in range(args.workers * 4):  # each worker process loads (or opens) the index on its first request
            httpx.get(base + "studies?limit=1", headers=headers, timeout=600)
        cpu0, pss = tree_usage(server.pid)
        print(f"radlake: {args.workers} worker(s); index loaded on the first requests in "
              f"{time.perf_counter() - t:.1f} s; server memory (PSS, all processes) {pss / 2**20:.0f} MiB")  # fmt: skip
        load0 = os.getloadavg()[0]
        client0 = time.process_time()
        ours = time_shapes(base, headers, table, args.repeat, args.clients, lambda: tree_usage(server.pid)[0])
        ours_cpu = tree_usage(server.pid)[0] - cpu0
        print(f"load generator (this process: threads over http.client keep-alive connections) CPU over the "
              f"timed requests: {time.process_time() - client0:.1f} s")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    sent = args.workers * 4 + len(table) * (1 + args.repeat * (1 + args.clients))
    audited = _audited_since(settings, started)
    print(f"audit: {audited:,} rows landed for the {sent:,} requests sent (the last rows on shutdown)")
    # Orthanc: as many instances as it stores in the time given, the same shapes.
    if args.orthanc_seconds <= 0:
        _print(table, ours, None, len(instances), 0, load0, ours_cpu)
        return 0
    with orthanc(work / "orthanc", threads=args.clients) as obase:
        t = time.perf_counter()
        stored = upload(obase, dicom_files(instances), deadline=time.monotonic() + args.orthanc_seconds, threads=2)
        print(f"orthanc: stored {stored:,} instances in {time.perf_counter() - t:.0f} s")
        theirs = time_shapes(obase + "/dicom-web/", {}, table, max(5, args.repeat // 4), args.clients)
    _print(table, ours, theirs, len(instances), stored, load0, ours_cpu)
    return 0


def _audited_since(settings: Settings, since: datetime) -> int:
    """The audit rows of requests made since ``since`` (earlier runs on a kept work folder left theirs)."""
    import pyarrow.compute as pc

    rows = Lake(settings).table("audit", "service_requests").read_arrow(["requested_at"])
    return 0 if rows is None else int(pc.sum(pc.greater_equal(rows.column("requested_at"), since)).as_py() or 0)


def _print(
    table: list[tuple[str, str, dict[str, str]]],
    ours: dict[str, dict[str, float]],
    theirs: dict[str, dict[str, float]] | None,
    instances: int,
    stored: int,
    load0: float,
    ours_cpu: float,
) -> None:
    print(f"load average: {load0:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores shared with other work)")
    print(f"radlake server CPU over all its timed requests: {ours_cpu:.1f} s")
    print(f"\nradlake on {instances:,} instances; Orthanc on {stored:,} (the first ones, the 300-image series first)")
    print("| shape | radlake p50 | p95 | 16 clients p50 | p95 | CPU ms/req | Orthanc p50 | p95 | 16 clients p50 | p95 "
          "| p95 ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, _, _ in table:
        a = ours[name]
        b = (theirs or {}).get(name)
        other = (
            f"{b['p50']:.1f} | {b['p95']:.1f} | {b['c50']:.1f} | {b['c95']:.1f} | {b['c95'] / a['c95']:.1f}x"
            if b else "- | - | - | - | -"
        )  # fmt: skip
        print(f"| {name} | {a['p50']:.1f} | {a['p95']:.1f} | {a['c50']:.1f} | {a['c95']:.1f} | {a['cpu_ms']:.1f} "
              f"| {other} |")  # fmt: skip
    statuses = ", ".join(
        f"{n}={ours[n]['status']:.0f}/{(theirs or {}).get(n, {}).get('status', 0):.0f}" for n, _, _ in table
    )
    print(f"(ms; ratio = Orthanc's 16-client p95 / radlake's; HTTP status radlake/Orthanc: {statuses})")


if __name__ == "__main__":
    raise SystemExit(main())
