"""Benchmark: one enhanced CT object with ``--frames`` frames and per-frame functional groups, landed as bronze does.

Prints the CPU time and peak memory (tracemalloc) of parsing it and building its bronze row (the Arrow batch with
one ``frames`` struct per frame), the size of the ``header_json`` it lands (shared groups kept, per-frame groups
summarised: :mod:`ingestion.dicom.frames`) beside the size of the whole header as DICOM JSON, and the frame rows
it gives silver/dicom_frames: the figures of issue 30 item 3.

Run: ``.venv/bin/python bench/dicom_multiframe.py [--frames 2000]``
"""

from __future__ import annotations

import argparse
import time
import tracemalloc


def _land(data: bytes) -> tuple[int, int, int]:
    """Parse and build the bronze row batch: (header_json bytes, frame rows, Arrow bytes)."""
    from ingestion.dicom.header import parse_header
    from ingestion.dicom.workers import instance_row, rows_to_chunk

    header = parse_header(data, len(data))
    chunk = rows_to_chunk([], [instance_row(header, "/bench/enhanced.dcm", "0" * 64, len(data))], [])
    return len(header.json), len(header.frames or ()), chunk.instances.nbytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--modality", choices=("CT", "MR"), default="CT", help="Enhanced CT or Enhanced MR (4 phases)")
    args = parser.parse_args()
    import orjson

    from ingestion.dicom.header import dataset_json
    from simulator.enhanced import enhanced_multiframe

    data = enhanced_multiframe("1.2.826.0.1.3680043.10.543.77.1", args.frames, modality=args.modality, phases=4)
    whole = len(orjson.dumps(dataset_json(data)))  # the header as DICOM JSON, per-frame groups included
    _land(data)  # warm (dictionary look-ups, codecs)
    cpu = time.process_time()
    kept, frames, arrow = _land(data)
    cpu = time.process_time() - cpu
    tracemalloc.start()
    _land(data)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"enhanced {args.modality}, {args.frames:,} frames, file {len(data) / 2**20:.1f} MiB")
    print(f"parse + bronze row: {cpu * 1000:.0f} ms CPU, peak Python memory {peak / 2**20:.1f} MiB")
    print(
        f"header_json landed: {kept / 1024:.1f} KiB (the whole header as DICOM JSON: {whole / 2**20:.2f} MiB, "
        f"{whole / kept:.0f}x); frame rows: {frames:,}; bronze row in Arrow: {arrow / 2**10:.0f} KiB"
    )


if __name__ == "__main__":
    main()
