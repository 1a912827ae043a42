"""Bench: studies per hour pulled from Orthanc by C-MOVE, beside C-STORE receive of the same files (storescu).

Writes ``--studies`` synthetic CT studies of ``--instances`` instances (512x512 16-bit pixels, about 0.5 MB
each), stores them in an Orthanc started here on loopback, then in this process: (1) the baseline, DCMTK's
storescu sending the files straight to radlake's receiver; (2) ``pull_studies`` moving every study from Orthanc
to another receiver. Both land in their own lake. Prints instances/s, studies/hour, the ratio and the load.
Usage: ``python bench/pacs_pull.py [--studies 30] [--instances 20]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "pacs"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dicom"))
from pacs_fixtures import orthanc, orthanc_upload, write_study
from receiver_harness import running_receiver

from ingestion.pacs.pull import pull_studies
from radlake import catalog, lake
from radlake.config import Settings


def _add_pixels(files: list[Path]) -> None:
    import pydicom

    pixels = bytes(512 * 512 * 2)
    for path in files:
        ds = pydicom.dcmread(path)
        ds.Rows = ds.Columns = 512
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.PixelData = pixels
        ds["PixelData"].VR = "OW"
        ds.save_as(path)


def _landed(settings: Settings) -> int:
    data = lake.read_arrow(settings, catalog.uri(settings, "bronze", "dicom_instances"), ["sop_instance_uid"])
    return 0 if data is None else len(set(data.column(0).to_pylist()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--studies", type=int, default=30)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--associations", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        for n in range(args.studies):
            write_study(tmp / "src", date(2026, 11, 1 + n % 3), args.instances, n)
        files = sorted((tmp / "src").glob("*.dcm"))
        _add_pixels(files)
        total = len(files)

        base = Settings(lake=str(tmp / "base"))
        with running_receiver(base, tmp / "recv-base", flush_seconds=0.5) as port:
            t0, cpu0 = time.perf_counter(), time.process_time()
            subprocess.run(
                ["storescu", "-aet", "MODALITY", "-aec", "RADLAKE", "127.0.0.1", str(port), *map(str, files)],
                check=True,
                capture_output=True,
            )
            while _landed(base) < total and time.perf_counter() - t0 < 600:
                time.sleep(0.2)
            store_s, store_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        print(
            f"C-STORE receive (storescu): {total} instances landed in {store_s:.1f} s = {total / store_s:.0f}/s; "
            f"radlake CPU {store_cpu:.1f} s"
        )

        pulled = Settings(lake=str(tmp / "pulled"), pacs={"associations": args.associations})
        with (
            running_receiver(pulled, tmp / "recv-pull", flush_seconds=0.5) as port,
            orthanc(tmp / "orthanc", receivers={"RADLAKE": port}) as pacs,
        ):
            orthanc_upload(pacs["http"], files)
            t0, cpu0 = time.perf_counter(), time.process_time()
            peer = f"dicom://ORTHANC@127.0.0.1:{pacs['dicom']}"
            report = pull_studies(pulled, peer, date(2026, 11, 1), date(2026, 11, 3))
            pull_s, pull_cpu = time.perf_counter() - t0, time.process_time() - cpu0
        assert report.complete == args.studies and _landed(pulled) == total, report
        print(
            f"PACS pull (Orthanc, C-MOVE, {args.associations} associations): {args.studies} studies, {total} instances "
            f"in {pull_s:.1f} s = {total / pull_s:.0f} instances/s = {args.studies * 3600 / pull_s:.0f} studies/hour; "
            f"radlake CPU {pull_cpu:.1f} s (receiver + pull; Orthanc apart)"
        )
        print(f"ratio pull / C-STORE receive (instances/s): {store_s / pull_s:.2f}; load: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
