"""Benchmark: DICOM header ingestion, radlake vs the naive pydicom loop; files/s and peak memory at two sizes.

Generates N small CT/MR instances (default 20,000, 50 per series, 4 series per study, GB18030 and UTF-8
Chinese text), then in one run times

(a) the naive baseline: one process looping ``pydicom.dcmread(stop_before_pixels=True)`` and ``to_json()``
    over the files, collecting the same columns (checksum included) into one parquet file;
(b) ``radlake ingest dicom`` (the CLI, in a subprocess) into a fresh lake: walk, checksum, headers, DICOM JSON,
    classification and the Delta commits of bronze/dicom_files and bronze/dicom_instances;
(c) the distributed backfill, ``radlake ingest dicom --engine spark`` against a Sail server in local-cluster
    mode (``--sail-workers`` workers, its own process) on the same corpus: the same rows, parsed as Spark jobs
    (``--no-distributed`` skips it; ``--engines-only`` runs (b) and (c) alone);
(d) dicomsdl, a C++ reader, in this process over the same files, reading the tags bronze promotes: files per
    CPU-second beside radlake's (all its processes), and the ratio.

Peak memory of (b) is measured at a small and a large N by polling the CLI process tree with psutil every
20 ms (sum of the resident set sizes of the CLI process and its workers; largest single process beside).

Run: ``.venv/bin/python bench/dicom_ingest.py [--n 20000] [--small 5000] [--workdir /tmp/radlake-bench]
[--sail-workers 3] [--engines-only]``
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
from _sail import sail_cluster

ROOT = Path(__file__).resolve().parents[1]
SERIES_SIZE = 50
SERIES_PER_STUDY = 4


def _series_dataset(study: int, series: int, charset: str):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    modality = "CT" if study % 3 else "MR"
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2" if modality == "CT" else "1.2.840.10008.5.1.4.1.1.4"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    ds.SpecificCharacterSet = charset
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    day = f"2026{1 + study % 12:02d}{1 + study % 28:02d}"
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = day
    ds.StudyTime = "083000"
    ds.SeriesTime = ds.ContentTime = f"08{30 + series:02d}00"
    ds.AccessionNumber = f"h01A{study:07d}"
    ds.Modality = modality
    ds.Manufacturer = "GE MEDICAL SYSTEMS"
    ds.InstitutionName = "第一人民医院"
    ds.ReferringPhysicianName = ""
    ds.StationName = f"{modality}0{1 + study % 3}"
    ds.StudyDescription = "胸部CT平扫" if modality == "CT" else "头颅MR平扫"
    ds.SeriesDescription = f"序列 {series}"
    ds.ManufacturerModelName = "Revolution"
    ds.PatientName = "张^伟" if study % 2 else "ZHANG^WEI=张^伟"
    ds.PatientID = f"M{study:07d}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "M"
    ds.PatientAge = "056Y"
    ds.BodyPartExamined = "CHEST" if modality == "CT" else "HEAD"
    ds.SliceThickness = "1.25"
    if modality == "CT":
        ds.KVP = "120"
        ds.Exposure = 200
    else:
        ds.MagneticFieldStrength = "3"
        ds.RepetitionTime = "2000"
        ds.EchoTime = "90"
    ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.543.{study}"
    ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.10.543.{study}.{series}"
    ds.StudyID = f"{study:06d}"
    ds.SeriesNumber = series
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ds.Columns = 8
    ds.PixelSpacing = ["0.5", "0.5"]
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    return ds


def _write_part(args: tuple[str, int, int]) -> int:
    """Write studies ``first``..``first+count`` under ``folder`` (a generator worker's share)."""
    from pydicom import dcmwrite

    folder, first, count = args
    written = 0
    for study in range(first, first + count):
        for series in range(1, SERIES_PER_STUDY + 1):
            ds = _series_dataset(study, series, "GB18030" if study % 2 else "ISO_IR 192")
            target = Path(folder) / f"{study:06d}" / f"{series:02d}"
            target.mkdir(parents=True, exist_ok=True)
            for k in range(1, SERIES_SIZE + 1):
                uid = f"{ds.SeriesInstanceUID}.{k}"
                ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
                ds.InstanceNumber = k
                ds.ImagePositionPatient = ["-2", "-2", f"{-1.25 * k:g}"]
                ds.SliceLocation = f"{-1.25 * k:g}"
                ds.PixelData = (k % 4096).to_bytes(2, "little") * 64
                dcmwrite(target / f"IM{k:04d}", ds, enforce_file_format=True)  # PACS style: no extension
                written += 1
    return written


def make_corpus(folder: Path, n: int, first_study: int = 0) -> int:
    """Write ``n`` instances (rounded to whole studies) under ``folder`` with two processes."""
    from concurrent.futures import ProcessPoolExecutor

    per_study = SERIES_SIZE * SERIES_PER_STUDY
    studies = max(1, n // per_study)
    half = studies // 2
    jobs = [(str(folder), first_study, half), (str(folder), first_study + half, studies - half)]
    with ProcessPoolExecutor(2) as pool:
        return sum(pool.map(_write_part, jobs))


def _files(roots: list[Path]) -> list[Path]:
    out = []
    for root in roots:
        for dirpath, _, names in os.walk(root):
            out.extend(Path(dirpath) / name for name in sorted(names))
    return out


def baseline(roots: list[Path], out: Path) -> tuple[int, float]:
    """The naive loop: pydicom per file, to_json, the same columns, one parquet file. Returns (files, s)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import pydicom

    started = time.perf_counter()
    rows = []
    for path in _files(roots):
        data = path.read_bytes()
        ds = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)

        def get(keyword: str, ds=ds) -> str | None:
            value = ds.get(keyword)
            return None if value is None or value == "" else str(value)

        rows.append(
            {
                "sop_instance_uid": get("SOPInstanceUID"),
                "sop_class_uid": get("SOPClassUID"),
                "study_instance_uid": get("StudyInstanceUID"),
                "series_instance_uid": get("SeriesInstanceUID"),
                "patient_id": get("PatientID"),
                "patient_name": get("PatientName"),
                "patient_sex": get("PatientSex"),
                "patient_birth_date": get("PatientBirthDate"),
                "accession_number": get("AccessionNumber"),
                "modality": get("Modality"),
                "study_date_raw": get("StudyDate"),
                "study_time": get("StudyTime"),
                "study_description": get("StudyDescription"),
                "series_description": get("SeriesDescription"),
                "series_number": get("SeriesNumber"),
                "instance_number": get("InstanceNumber"),
                "body_part_examined": get("BodyPartExamined"),
                "institution_name": get("InstitutionName"),
                "station_name": get("StationName"),
                "manufacturer": get("Manufacturer"),
                "manufacturer_model_name": get("ManufacturerModelName"),
                "slice_thickness": get("SliceThickness"),
                "kvp": get("KVP"),
                "exposure_mas": get("Exposure"),
                "transfer_syntax_uid": str(ds.file_meta.TransferSyntaxUID),
                "specific_character_set": get("SpecificCharacterSet"),
                "file_path": str(path),
                "file_sha256": hashlib.sha256(data).hexdigest(),
                "file_size": len(data),
                "header_json": ds.to_json(),
            }
        )
    pq.write_table(pa.Table.from_pylist(rows), out)
    return len(rows), time.perf_counter() - started


PROMOTED = (
    "SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID", "PatientName",
    "PatientSex", "PatientBirthDate", "AccessionNumber", "Modality", "StudyDate", "StudyTime", "StudyDescription",
    "SeriesDescription", "SeriesNumber", "InstanceNumber", "BodyPartExamined", "InstitutionName", "StationName",
    "Manufacturer", "ManufacturerModelName", "SliceThickness", "KVP", "Exposure", "AcquisitionDate",
    "AcquisitionTime", "SpecificCharacterSet",
)  # fmt: skip
"""The keywords bronze/dicom_instances promotes to columns (what the C++ reader is asked for)."""


def dicomsdl_pass(roots: list[Path]) -> tuple[int, float]:
    """(d): dicomsdl (a C++ reader) opens each file up to the pixel data and reads the promoted tags, in this
    process. Returns (files, CPU s). No checksum, no JSON of the whole header, nothing written."""
    import dicomsdl

    cpu0 = time.process_time()
    n = 0
    for path in _files(roots):
        ds = dicomsdl.open_file(str(path), 0x7FE00010)
        row = [getattr(ds, k, None) for k in PROMOTED]
        n += row[0] is not None
    return n, time.process_time() - cpu0


def _child_env(work: Path) -> dict[str, str]:
    """The environment of the CLI runs: byte-code caching on, as in any normal installation.

    The development image sets PYTHONDONTWRITEBYTECODE, which makes every process (the CLI and each worker)
    compile pandas, pyarrow, pydantic, ... from source at start. Cached byte code goes to a folder of the
    benchmark, not into the virtual environment.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    return env


CHILD_ENV: dict[str, str] = {}


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_cli(
    roots: list[Path], lake: Path, extra: list[str], *, fresh: bool = True
) -> tuple[float, int, int, str, float]:
    """Run ``radlake ingest dicom`` in a subprocess: (wall s, peak tree RSS, peak single RSS, stdout, CPU s).

    CPU is user + system time of the CLI and its worker processes (getrusage of reaped children). With
    ``fresh`` the lake is removed first.
    """
    if fresh:
        shutil.rmtree(lake, ignore_errors=True)
    cpu_before = _children_cpu()
    cmd = [
        sys.executable,
        "-c",
        "from cli.main import main; main()",
        "ingest",
        "dicom",
        *map(str, roots),
        "--lake",
        str(lake),
        "--quiet",
        *extra,
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=CHILD_ENV or None
    )
    top = psutil.Process(proc.pid)
    peak_tree = peak_one = 0
    while proc.poll() is None:
        try:
            procs = [top, *top.children(recursive=True)]
            sizes = []
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    sizes.append(p.memory_info().rss)
            peak_tree = max(peak_tree, sum(sizes))
            peak_one = max(peak_one, max(sizes, default=0))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - started
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"radlake ingest dicom failed ({proc.returncode}):\n{err}")
    return wall, peak_tree, peak_one, out, _children_cpu() - cpu_before


def _check_landed(stdout: str, n: int) -> None:
    """The run must have landed every file as an instance, or its rate means nothing."""
    want = f"{n} new ({n} instance, 0 duplicate, 0 conflict, 0 reject)"
    if want not in stdout:
        raise SystemExit(f"the ingest did not land {n} instances (expected '{want}'):\n{stdout}")


def _seconds_inside(stdout: str) -> float:
    for line in stdout.splitlines():
        if line.startswith("time: "):
            return float(line.split()[1])
    return float("nan")


def _tree_cpu(proc: psutil.Process) -> float:
    """User + system CPU seconds of a process and its living children."""
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += sum(p.cpu_times()[:2])
    return total


def distributed(roots: list[Path], n_all: int, work: Path, workers: int, pool_wall: float | None) -> None:
    """(c): the backfill on Sail in local-cluster mode, files/s and the ratio against the process pool (b)."""
    with sail_cluster(workers, work / "sail.log") as (url, server):
        # A first job starts the workers and loads the parser into them: time the steady state, as for (b).
        run_cli(
            [roots[0] / sorted(os.listdir(roots[0]))[0]],
            work / "lake_dist_warmup",
            ["--no-rollups", "--engine", "spark", "--spark", url],
        )
        cpu_server1 = _tree_cpu(server)
        wall, _, one, out, cpu = run_cli(
            roots, work / "lake_dist", ["--no-rollups", "--engine", "spark", "--spark", url]
        )
        cpu_server = _tree_cpu(server) - cpu_server1
        rss = server.memory_info().rss
    _check_landed(out, n_all)
    rate = n_all / wall
    print(
        f"(c) --engine spark, Sail local-cluster ({workers} workers): {n_all:,} files in {wall:6.1f} s = "
        f"{rate:7,.0f} files/s end to end ({n_all / _seconds_inside(out):,.0f} files/s inside the call; "
        f"{n_all / (cpu + cpu_server):,.0f} files per CPU-second, driver + server)"
    )
    print(f"    driver peak {one / 2**20:.0f} MiB; Sail server resident after the run {rss / 2**20:.0f} MiB")
    if pool_wall is not None:
        print(f"    ratio (c)/(b): {pool_wall / wall:.2f}x (the cost of distribution on one machine when below 1)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="instances of the large run")
    parser.add_argument("--small", type=int, default=5_000, help="instances of the small run (memory check)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radlake-bench"))
    parser.add_argument("--sail-workers", type=int, default=3, help="workers of the local-cluster server (c)")
    parser.add_argument("--no-distributed", action="store_true", help="skip (c)")
    parser.add_argument("--engines-only", action="store_true", help="run (b) and (c) only")
    args = parser.parse_args()
    work = args.workdir.resolve()
    small_dir, rest_dir = work / "corpus" / "a", work / "corpus" / "b"
    marker = work / "corpus" / f".n={args.small}+{args.n - args.small}"
    if not marker.exists():
        shutil.rmtree(work / "corpus", ignore_errors=True)
        t = time.perf_counter()
        made = make_corpus(small_dir, args.small)
        made += make_corpus(rest_dir, args.n - args.small, first_study=10_000)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(str(made))
        print(f"generated {made:,} instances in {time.perf_counter() - t:.0f} s under {work / 'corpus'}")
    roots_all = [small_dir, rest_dir]
    n_all = len(_files(roots_all))
    n_small = len(_files([small_dir]))
    cores = len(os.sched_getaffinity(0))
    print(f"corpus: {n_all:,} files ({n_small:,} in the small part), {cores} CPU cores, {sys.version.split()[0]}")

    CHILD_ENV.update(_child_env(work))
    # Warm the page cache for both contenders, and the byte-code cache of the CLI.
    for path in _files(roots_all):
        path.read_bytes()
    run_cli([small_dir / sorted(os.listdir(small_dir))[0]], work / "lake_warmup", [])  # with roll-ups (pyspark)

    if args.engines_only:
        wall, _, one, out, cpu = run_cli(roots_all, work / "lake_large", ["--no-rollups"])
        _check_landed(out, n_all)
        print(
            f"(b) radlake ingest dicom (process pool): {n_all:,} files in {wall:6.1f} s = {n_all / wall:7,.0f} "
            f"files/s end to end ({n_all / _seconds_inside(out):,.0f} files/s inside the call; "
            f"{n_all / cpu:,.0f} files per CPU-second)"
        )
        per_core(n_all, cpu, roots_all)
        if not args.no_distributed:
            distributed(roots_all, n_all, work, args.sail_workers, wall)
        print(f"load average during the run: {os.getloadavg()[0]:.1f} (other processes share the {cores} cores)")
        return

    cpu0 = time.process_time()
    n_base, s_base = baseline(roots_all, work / "baseline.parquet")
    cpu_base = time.process_time() - cpu0
    rate_base = n_base / s_base
    print(
        f"(a) naive pydicom loop:        {n_base:,} files in {s_base:6.1f} s = {rate_base:7,.0f} files/s "
        f"({n_base / cpu_base:,.0f} files per CPU-second)"
    )
    wall, tree, one, out, cpu = run_cli(roots_all, work / "lake_large", ["--no-rollups"])
    _check_landed(out, n_all)
    inside = _seconds_inside(out)
    rate = n_all / wall
    print(
        f"(b) radlake ingest dicom (CLI): {n_all:,} files in {wall:6.1f} s = {rate:7,.0f} files/s end to end, "
        f"interpreter start included ({n_all / inside:,.0f} files/s inside the ingest call; "
        f"{n_all / cpu:,.0f} files per CPU-second)"
    )
    print(f"    ratio (b)/(a): {rate / rate_base:.1f}x wall, {(n_all / cpu) / (n_base / cpu_base):.1f}x CPU")
    per_core(n_all, cpu, roots_all)
    wall_r, _, _, _, _ = run_cli(roots_all, work / "lake_rollups", [])
    print(f"    the same with the silver roll-ups (Sail): {wall_r:6.1f} s = {n_all / wall_r:7,.0f} files/s")
    _, tree_s, one_s, _, _ = run_cli([small_dir], work / "lake_small", ["--no-rollups"])
    print("peak memory of `radlake ingest dicom` (psutil, 20 ms polls; CLI process + worker processes):")
    print(f"    N={n_small:>7,}: tree {tree_s / 2**20:6.0f} MiB, largest process {one_s / 2**20:6.0f} MiB")
    print(f"    N={n_all:>7,}: tree {tree / 2**20:6.0f} MiB, largest process {one / 2**20:6.0f} MiB")
    if not args.no_distributed:
        distributed(roots_all, n_all, work, args.sail_workers, wall)
    again, out2 = run_cli_again(roots_all, work / "lake_large")
    print(f"re-run over the same folders: {again:.1f} s, {out2.strip().splitlines()[1]}")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} (other processes share the {cores} cores)")


def per_core(n_all: int, cpu: float, roots: list[Path]) -> None:
    """(d) beside (b): files per CPU-second of radlake (all processes) and of dicomsdl, and the ratio."""
    n_sdl, cpu_sdl = dicomsdl_pass(roots)
    if n_sdl != n_all:
        raise SystemExit(f"dicomsdl read {n_sdl} of {n_all} files")
    ours, theirs = n_all / cpu, n_sdl / cpu_sdl
    print(f"(d) dicomsdl, promoted tags only: {n_sdl:,} files, {theirs:,.0f} files per CPU-second")
    print(f"    per core: radlake {ours:,.0f} / dicomsdl {theirs:,.0f} files per CPU-second = {ours / theirs:.2f}x")


def run_cli_again(roots: list[Path], lake: Path) -> tuple[float, str]:
    """Re-run over an existing lake (incremental: nothing new)."""
    cmd = [sys.executable, "-c", "from cli.main import main; main()", "ingest", "dicom", *map(str, roots)]
    cmd += ["--lake", str(lake), "--quiet", "--no-rollups"]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=True, env=CHILD_ENV or None)
    return time.perf_counter() - started, done.stdout


if __name__ == "__main__":
    main()
