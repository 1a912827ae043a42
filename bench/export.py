"""Benchmark: radlake's de-identification beside dicom-anonymizer on the same files, in the same run.

Builds a corpus of N instances from the simulator's own files (each copied with fresh study, series and
instance UIDs and patient ids, so charsets, private blocks and sequences are the simulator's), then
de-identifies every file with each tool in a pool of ``--workers`` processes (read, de-identify, write):

- radlake: ``transforms.export.export_instance`` with the Basic Profile and no options (what
  dicom-anonymizer implements), burned-in quarantine off so both tools see every file;
- dicom-anonymizer: ``anonymize_dicom_file`` with its default rules (the same PS3.15 table).

Prints instances per second (wall) and per CPU-second for each, their ratio (target: radlake ≥ 3×), and,
on a sample, how each tool treated every attribute of the source (kept, removed, emptied, replaced) and
where both changed an attribute but differently.

Run: ``.venv/bin/python bench/export.py [--instances 20000] [--workers 2] [--workdir /tmp/radlake-export-bench]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KEY = b"bench-key".ljust(32, b"\0")


def _templates(workdir: Path) -> list[Path]:
    from simulator.simulate import simulate

    sim = workdir / "sim"
    if not (sim / "dicom").is_dir():
        simulate(sim, institutions=2, days=1, exams_per_day=60, seed=5, start_date=date(2026, 11, 2))
    return sorted(p for p in (sim / "dicom").rglob("*") if p.is_file())


def _make(args: tuple[list[str], str, int, int]) -> int:
    import pydicom
    from pydicom.uid import generate_uid

    templates, out, start, stop = args
    made = 0
    for i in range(start, stop):
        try:
            ds = pydicom.dcmread(templates[i % len(templates)])
        except Exception:  # the simulator's deliberately broken files: skipped
            continue
        study = f"2.25.{10**20 + i // 50}"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, f"{study}.{(i // 10) % 5}"
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = f"B{i // 50:07d}"
        ds.save_as(Path(out) / f"{i:06d}.dcm", enforce_file_format=True)
        made += 1
    return made


def _radlake(args: tuple[list[str], str]) -> tuple[int, Counter[str]]:
    from transforms.deid import DeidPolicy
    from transforms.export import export_instance

    files, out = args
    policy = DeidPolicy(key=KEY)
    outcomes: Counter[str] = Counter()
    for path in files:
        data = Path(path).read_bytes()
        result = export_instance(data, None, policy, Path(path).stem, allow_burned_in=True)
        outcomes[result.outcome] += 1
        if result.data is not None:
            (Path(out) / Path(path).name).write_bytes(result.data)
    return len(files), outcomes


def _reference(args: tuple[list[str], str]) -> tuple[int, Counter[str]]:
    from dicomanonymizer import anonymize_dicom_file

    files, out = args
    outcomes: Counter[str] = Counter()
    for path in files:
        try:
            anonymize_dicom_file(path, str(Path(out) / Path(path).name))
            outcomes["exported"] += 1
        except Exception:
            outcomes["failed"] += 1
    return len(files), outcomes


def _timed(fn, files: list[str], out: Path, workers: int) -> tuple[float, float, Counter[str]]:  # type: ignore[no-untyped-def]
    out.mkdir(parents=True, exist_ok=True)
    chunks = [files[i :: workers * 8] for i in range(workers * 8)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    outcomes: Counter[str] = Counter()
    with ProcessPoolExecutor(workers) as pool:
        for _n, counts in pool.map(fn, [(c, str(out)) for c in chunks]):
            outcomes += counts
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, outcomes


def _treatment(source, result, tag) -> str:  # type: ignore[no-untyped-def]
    if tag not in result:
        return "removed"
    value = result[tag].value
    if value in (None, "", b"") or (result[tag].VR == "SQ" and len(value) == 0):
        return "emptied"
    return "kept" if value == source[tag].value else "replaced"


def _compare(corpus: Path, ours: Path, theirs: Path, sample: int) -> tuple[int, Counter[str], Counter[str]]:
    import pydicom

    agree = 0
    differ: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for path in sorted(corpus.glob("*.dcm"))[:sample]:
        if not (ours / path.name).exists() or not (theirs / path.name).exists():
            continue
        src, a, b = (pydicom.dcmread(p) for p in (path, ours / path.name, theirs / path.name))
        for elem in src:
            if elem.tag.is_private:
                continue
            mine, ref = _treatment(src, a, elem.tag), _treatment(src, b, elem.tag)
            seen[f"{mine}/{ref}"] += 1
            if mine == "kept" or ref == "kept":
                continue
            if mine == ref:
                agree += 1
            else:
                differ[f"{elem.keyword or elem.tag}: radlake {mine}, dicom-anonymizer {ref}"] += 1
    return agree, differ, seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--instances", type=int, default=20000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=300, help="files compared attribute by attribute")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radlake-export-bench"))
    args = parser.parse_args()
    workdir: Path = args.workdir
    corpus = workdir / "corpus"
    templates = [str(p) for p in _templates(workdir)]
    if len(list(corpus.glob("*.dcm"))) < args.instances * 0.95:
        shutil.rmtree(corpus, ignore_errors=True)
        corpus.mkdir(parents=True)
        step = -(-args.instances // (args.workers * 4))
        spans = [(templates, str(corpus), s, min(s + step, args.instances)) for s in range(0, args.instances, step)]
        with ProcessPoolExecutor(args.workers) as pool:
            made = sum(pool.map(_make, spans))
        print(f"corpus: {made} instances from {len(templates)} simulator files")
    files = sorted(str(p) for p in corpus.glob("*.dcm"))
    print(f"load average before: {os.getloadavg()[0]:.1f}")
    results = {}
    for name, fn in (("radlake", _radlake), ("dicom-anonymizer", _reference)):
        out = workdir / f"out-{name}"
        shutil.rmtree(out, ignore_errors=True)
        wall, cpu, outcomes = _timed(fn, files, out, args.workers)
        results[name] = (wall, cpu)
        print(
            f"{name:17s} {len(files)} instances: {wall:7.1f} s wall, {cpu:7.1f} CPU s → "
            f"{len(files) / wall:7.0f}/s, {len(files) / cpu:7.0f} per CPU-s  {dict(outcomes)}"
        )
    (rw, rc), (aw, ac) = results["radlake"], results["dicom-anonymizer"]
    print(
        f"ratio radlake / dicom-anonymizer: {aw / rw:.2f}× (wall, {args.workers} workers), {ac / rc:.2f}× (per CPU-s)"
    )
    agree, differ, seen = _compare(corpus, workdir / "out-radlake", workdir / "out-dicom-anonymizer", args.sample)
    total = agree + sum(differ.values())
    print(
        f"attributes both tools changed ({args.sample} files): {total}, "
        f"same outcome {agree} ({agree / max(total, 1):.1%})"
    )
    print("treatment pairs (radlake/dicom-anonymizer):", dict(seen.most_common()))
    for what, n in differ.most_common(15):
        print(f"  differ ×{n}: {what}")


if __name__ == "__main__":
    main()
