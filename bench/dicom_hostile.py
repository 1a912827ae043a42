"""Benchmark: peak memory of ``radlake ingest dicom`` (2 workers) on a hostile corpus vs a normal one of the same size.

Builds, under the work folder,

- a **hostile** corpus: N normal instances plus, twice each (so both workers can meet one at once), a 2 MB
  deflated file that inflates to about 2 GiB (a private OB value of zeros before the pixel data), a 64 MiB
  text value (UT), a 64 MiB LO in implicit VR (a typed column), sequences nested 10,000 deep, a value and an
  item whose lengths run past the end of the file, a header of 500,000 tiny elements, and a file of garbage;
- a **normal** corpus with the same number of files, all normal instances;

then runs ``radlake ingest dicom --workers 2 --no-rollups`` on each (fresh lake each) in a subprocess and
polls the CLI process tree with psutil every 20 ms (sum of resident set sizes of the CLI and its workers).
Prints both peaks, their ratio, the outcome of every hostile file (read back from bronze/dicom_files) and
whether the target (≤ 1.5 GiB) holds. The run is refused (exit 1) if a hostile file is not rejected or
truncated as expected, or the CLI fails.

Run: ``.venv/bin/python bench/dicom_hostile.py [--normal 400] [--workdir /tmp/radlake-hostile]``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGET = 1.5 * 2**30
CT = b"1.2.840.10008.5.1.4.1.1.2\x00"
UID_ROOT = "1.2.826.0.1.3680043.10.543.99"


def _el(group: int, elem: int, vr: bytes, value: bytes) -> bytes:
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT", b"UC", b"UR"):
        return struct.pack("<HH2sHI", group, elem, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def _uid(sop: str) -> bytes:
    raw = sop.encode()
    return raw + b"\x00" if len(raw) % 2 else raw


def _meta(syntax: str, sop: str) -> bytes:
    ts = _uid(syntax)
    body = _el(2, 1, b"OB", b"\x00\x01") + _el(2, 2, b"UI", CT) + _el(2, 3, b"UI", _uid(sop)) + _el(2, 0x10, b"UI", ts)
    return b"\x00" * 128 + b"DICM" + _el(2, 0, b"UL", struct.pack("<I", len(body))) + body


def _top(sop: str) -> bytes:
    return _el(8, 0x16, b"UI", CT) + _el(8, 0x18, b"UI", _uid(sop)) + _el(8, 0x60, b"CS", b"CT")


def _pixels() -> bytes:
    return _el(0x7FE0, 0x10, b"OW", b"\x00" * 512)


def deflate_bomb(sop: str, inflated: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    head = _top(sop) + _el(9, 0x10, b"LO", b"BOMB") + struct.pack("<HH2sHI", 9, 0x1001, b"OB", 0, inflated)
    parts = [z.compress(head)]
    block = b"\x00" * (16 << 20)
    for _ in range(inflated // len(block)):
        parts.append(z.compress(block))
    parts += [z.compress(_pixels()), z.flush()]
    return _meta("1.2.840.10008.1.2.1.99", sop) + b"".join(parts)


def decoded_bomb(sop: str, values: int = 900, value_bytes: int = 64 << 10) -> bytes:
    """A ~64 KB deflated file inflating to ~59 MiB: ``values`` private UT values of control characters.

    Under ``max_inflated_bytes`` and ``max_value_bytes``; each byte becomes the six bytes ``\\u0001`` in JSON.
    """
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    creators = b"".join(_el(9, 0x10 + k, b"LO", b"DECODED BOMB") for k in range(4))
    parts = [z.compress(_top(sop) + creators)]
    value = b"\x01" * value_bytes
    for i in range(values):
        parts.append(z.compress(_el(9, 0x1000 + i, b"UT", value)))
    parts += [z.compress(_pixels()), z.flush()]
    return _meta("1.2.840.10008.1.2.1.99", sop) + b"".join(parts)


def hostile_files(n_copies: int) -> dict[str, tuple[bytes | None, str, str]]:
    """name → (bytes or None to generate lazily, expected outcome, expected reason code or marker)."""
    out: dict[str, tuple[bytes | None, str, str]] = {}
    for c in range(n_copies):
        u = f"{UID_ROOT}.{c}"
        out[f"bomb_{c}.dcm"] = (None, "reject", "inflated_too_large")
        out[f"long_ut_{c}.dcm"] = (None, "instance", "truncated")
        out[f"long_lo_implicit_{c}.dcm"] = (None, "instance", "truncated")
        depth = 10_000
        deep = (
            b"".join(
                struct.pack("<HH2sHI", 0x40, 0x275, b"SQ", 0, 0xFFFFFFFF)
                + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
                for _ in range(depth)
            )
            + (struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)) * depth
        )
        out[f"deep_{c}.dcm"] = (
            _meta("1.2.840.10008.1.2.1", f"{u}.4") + _top(f"{u}.4") + deep + _pixels(),
            "reject",
            "sequence_too_deep",
        )
        out[f"value_past_end_{c}.dcm"] = (
            _meta("1.2.840.10008.1.2.1", f"{u}.5")
            + _top(f"{u}.5")
            + struct.pack("<HH2sHI", 0x40, 0xA160, b"UT", 0, 0xFFFFFFF0)
            + b"x" * 100,
            "reject",
            "truncated_header",
        )
        out[f"item_past_end_{c}.dcm"] = (
            _meta("1.2.840.10008.1.2.1", f"{u}.6")
            + _top(f"{u}.6")
            + struct.pack("<HH2sHI", 0x40, 0x275, b"SQ", 0, 0xFFFFFFFF)
            + struct.pack("<HHI", 0xFFFE, 0xE000, 0x7FFFFFFF)
            + b"y" * 100,
            "reject",
            "truncated_header",
        )
        tiny = b"".join(_el(9, 0x1000 + i % 0xEFFF, b"LO", b"XX") for i in range(500_000))
        out[f"many_elements_{c}.dcm"] = (
            _meta("1.2.840.10008.1.2.1", f"{u}.7") + _top(f"{u}.7") + _el(9, 0x10, b"LO", b"MANY") + tiny + _pixels(),
            "reject",
            "too_many_elements",
        )
        out[f"garbage_{c}.dcm"] = (bytes(range(256)) * 4096, "reject", "not_dicom")
    return out


def write_hostile(folder: Path, n_copies: int) -> dict[str, tuple[str, str]]:
    folder.mkdir(parents=True, exist_ok=True)
    expect = {}
    for name, (data, outcome, code) in hostile_files(n_copies).items():
        c = name.rsplit("_", 1)[1].split(".")[0]
        u = f"{UID_ROOT}.{c}"
        path = folder / name
        if data is None and name.startswith("bomb"):
            data = deflate_bomb(f"{u}.1", 2 << 30)
        elif data is None and name.startswith("long_ut"):
            data = _meta("1.2.840.10008.1.2.1", f"{u}.2") + _top(f"{u}.2")
            data += _el(0x40, 0xA160, b"UT", b"<script>alert(1)</script>" * ((64 << 20) // 25 + 1)) + _pixels()
        elif data is None:
            sop = _uid(f"{u}.3")
            value = b"A" * (64 << 20)
            data = (
                _meta("1.2.840.10008.1.2", f"{u}.3")
                + struct.pack("<HHI", 8, 0x16, len(CT)) + CT
                + struct.pack("<HHI", 8, 0x18, len(sop)) + sop
                + struct.pack("<HHI", 8, 0x1030, len(value)) + value
            )  # fmt: skip
        path.write_bytes(data)
        expect[str(path)] = (outcome, code)
    return expect


def write_normal(folder: Path, n: int, prefix: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        sop = f"{UID_ROOT}.{prefix}.{i}"
        data = (
            _meta("1.2.840.10008.1.2.1", sop)
            + _top(sop)
            + _el(8, 0x20, b"DA", b"20261201")
            + _el(8, 0x50, b"SH", f"A{i:07d}".encode())
            + _el(0x10, 0x10, b"PN", b"TEST^PATIENT")
            + _el(0x20, 0xD, b"UI", _uid(f"{UID_ROOT}.{prefix}.s{i // 50}"))
            + _el(0x20, 0xE, b"UI", _uid(f"{UID_ROOT}.{prefix}.s{i // 50}.1"))
            + _pixels()
        )
        (folder / f"IM{i:06d}.dcm").write_bytes(data)


class Watch:
    """Polls a process tree's resident memory every 20 ms; kills the tree past ``ceiling`` bytes (then
    the peak reads "> ceiling"): an unfixed build must not take the shared machine down."""

    def __init__(self, proc: subprocess.Popen, ceiling: float) -> None:
        self.proc, self.ceiling = proc, ceiling
        self.top = psutil.Process(proc.pid)
        self.peak_tree = self.peak_one = 0
        self.killed = False

    def poll(self) -> bool:
        """One sample; False once the process ended (or was killed at the ceiling)."""
        if self.proc.poll() is not None:
            return False
        with contextlib.suppress(psutil.NoSuchProcess):
            procs = [self.top, *self.top.children(recursive=True)]
            sizes = []
            for p in procs:
                with contextlib.suppress(psutil.NoSuchProcess):
                    sizes.append(p.memory_info().rss)
            self.peak_tree = max(self.peak_tree, sum(sizes))
            self.peak_one = max(self.peak_one, max(sizes, default=0))
            if sum(sizes) > self.ceiling:
                self.killed = True
                for p in reversed(procs):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        p.kill()
                self.proc.wait()
                return False
        time.sleep(0.02)
        return True

    def text(self) -> str:
        return f"> {self.ceiling / 2**20:.0f} MiB (killed)" if self.killed else f"{self.peak_tree / 2**20:.0f} MiB"


def run_cli(folder: Path, lake: Path, ceiling: float = 64 * 2**30) -> tuple[int, float, float, str]:
    """Run the CLI; return (peak tree RSS, peak single process RSS, seconds, stdout)."""
    watch, sec, out = run_ingest(folder, lake, ceiling)
    if watch.killed:
        sys.exit(f"radlake ingest dicom passed the memory ceiling ({watch.text()})")
    return watch.peak_tree, watch.peak_one, sec, out


def run_ingest(folder: Path, lake: Path, ceiling: float) -> tuple[Watch, float, str]:
    """Run ``radlake ingest dicom --workers 2`` under a :class:`Watch`; (watch, seconds, stdout)."""
    cmd = [sys.executable, "-c", "from cli.main import main; main()", "ingest", "dicom", str(folder),
           "--lake", str(lake), "--workers", "2", "--no-rollups", "-q"]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = Watch(proc, ceiling)
    while watch.poll():
        pass
    out, err = proc.communicate()
    if proc.returncode != 0 and not watch.killed:
        sys.exit(f"radlake ingest dicom failed ({proc.returncode}): {err.strip()[-2000:]}")
    return watch, time.perf_counter() - started, out


def _receiver(lake: Path, storage: Path) -> tuple[subprocess.Popen, int]:
    """Start ``radlake dicom listen`` on a free loopback port; (process, port)."""
    cmd = [sys.executable, "-c", "from cli.main import main; main()", "dicom", "listen", "--port", "0",
           "--host", "127.0.0.1", "--ae-title", "RADLAKE", "--storage", str(storage), "--lake", str(lake),
           "--flush-seconds", "0.5"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        m = re.search(r"radlake dicom listen: RADLAKE on 127\.0\.0\.1:(\d+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep draining its log
            return proc, int(m.group(1))
        if time.monotonic() > deadline:
            break
    proc.kill()
    sys.exit(f"the receiver did not start: {proc.communicate()[1][-2000:]}")


def run_receiver_load(files: list[Path], work: Path, name: str, ceiling: float) -> tuple[Watch, float, int]:
    """Send each file by its own concurrent storescu to a fresh receiver; wait until all landed.

    Returns (watch, seconds, files landed).
    """
    from radlake import catalog, lake
    from radlake.config import Settings

    lake_dir = work / f"lake-{name}"
    settings = Settings(lake=str(lake_dir))
    proc, port = _receiver(lake_dir, work / f"received-{name}")
    watch = Watch(proc, ceiling)
    started = time.perf_counter()
    storescu = ["storescu", "-aet", "MODALITY1", "-aec", "RADLAKE", "127.0.0.1", str(port)]
    senders = [
        subprocess.Popen([*storescu, str(f)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for f in files
    ]
    landed = 0
    deadline = time.monotonic() + 600
    next_look = 0.0
    while watch.poll() and time.monotonic() < deadline:
        if all(s.poll() is not None for s in senders) and time.monotonic() >= next_look:
            next_look = time.monotonic() + 0.5
            uri = catalog.uri(settings, "bronze", "dicom_files")
            got = lake.read_arrow(settings, uri, columns=["file_path"]) if (lake_dir / "bronze").exists() else None
            landed = 0 if got is None else got.num_rows
            if landed >= len(files):
                break
    seconds = time.perf_counter() - started
    for s in senders:
        if s.poll() is None:
            s.kill()
        s.wait()
    if proc.poll() is None:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(60)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return watch, seconds, landed


def run_bomb(work: Path, n_folder: int, n_receiver: int, ceiling: float) -> None:
    """The decoded-size bomb: folder ingest of ``n_folder`` bombs and ``n_receiver`` concurrent C-STOREs,
    each against the same count of normal files in the same run."""
    bombs = work / "bombs"
    bombs.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(max(n_folder, n_receiver)):
        path = bombs / f"decoded_bomb_{i}.dcm"
        path.write_bytes(decoded_bomb(f"{UID_ROOT}.77.{i}"))
        paths.append(path)
    normal = work / "bomb-normal"
    write_normal(normal, max(n_folder, n_receiver), "b")
    normal_paths = sorted(normal.iterdir())
    raw = paths[0].read_bytes()
    body = raw[raw.index(b"DICM") + 4 :]
    body = body[12 + struct.unpack_from("<I", body, 8)[0] :]  # past the file meta group
    inflated = len(zlib.decompressobj(-zlib.MAX_WBITS).decompress(body))
    print(f"decoded-size bomb: {len(raw) / 1024:.0f} KiB on disk, inflates to {inflated / 2**20:.0f} MiB")
    folder_in = work / "bomb-folder"
    folder_in.mkdir(exist_ok=True)
    for p in paths[:n_folder]:
        shutil.copy(p, folder_in / p.name)
    normal_in = work / "bomb-folder-normal"
    normal_in.mkdir(exist_ok=True)
    for p in normal_paths[:n_folder]:
        shutil.copy(p, normal_in / p.name)
    w_norm, s_norm, _ = run_ingest(normal_in, work / "lake-bomb-folder-normal", ceiling)
    w_bomb, s_bomb, _ = run_ingest(folder_in, work / "lake-bomb-folder", ceiling)
    r_norm, rs_norm, rl_norm = run_receiver_load(normal_paths[:n_receiver], work, "rx-normal", ceiling)
    r_bomb, rs_bomb, rl_bomb = run_receiver_load(paths[:n_receiver], work, "rx-bomb", ceiling)
    print("peak memory, decoded-size bomb (psutil, 20 ms polls; tree killed past the ceiling):")
    for label, w, sec, extra in (
        (f"folder ingest, {n_folder} normal files ", w_norm, s_norm, ""),
        (f"folder ingest, {n_folder} bombs        ", w_bomb, s_bomb, ""),
        (f"receiver, {n_receiver} concurrent normal  ", r_norm, rs_norm, f", {rl_norm} landed"),
        (f"receiver, {n_receiver} concurrent bombs   ", r_bomb, rs_bomb, f", {rl_bomb} landed"),
    ):
        print(f"    {label}: {w.text():>22s}, {sec:6.1f} s{extra}")
    for what, w, base in (("folder", w_bomb, w_norm), ("receiver", r_bomb, r_norm)):
        ratio = "n/a" if w.killed else f"{w.peak_tree / max(base.peak_tree, 1):.2f}x"
        met = not w.killed and w.peak_tree <= TARGET
        print(f"    {what}: bomb/normal {ratio}; target <= {TARGET / 2**30:.1f} GiB: {'met' if met else 'NOT met'}")
    if rl_bomb < n_receiver and not r_bomb.killed:
        print(f"    (receiver: only {rl_bomb} of {n_receiver} bombs have a dicom_files row)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normal", type=int, default=400, help="normal instances in the hostile corpus")
    parser.add_argument("--copies", type=int, default=2, help="copies of each hostile case")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/radlake-hostile"))
    parser.add_argument("--part", choices=["all", "corpus", "bomb"], default="all",
                        help="the hostile corpus, the decoded-size bomb, or both")  # fmt: skip
    parser.add_argument("--bombs", type=int, default=10, help="decoded-size bombs in the folder ingest")
    parser.add_argument("--concurrent", type=int, default=4, help="decoded-size bombs sent to the receiver at once")
    parser.add_argument("--ceiling-gib", type=float, default=4.0, help="kill a run whose tree passes this")
    args = parser.parse_args()
    work = args.workdir
    shutil.rmtree(work, ignore_errors=True)
    print(f"load: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f} {os.getloadavg()[2]:.1f} (1/5/15 min)")
    if args.part in ("all", "bomb"):
        run_bomb(work, args.bombs, args.concurrent, args.ceiling_gib * 2**30)
    if args.part == "bomb":
        return
    t = time.perf_counter()
    hostile_dir = work / "hostile"
    expect = write_hostile(hostile_dir / "h", args.copies)
    write_normal(hostile_dir / "n", args.normal, "h")
    n_files = args.normal + len(expect)
    write_normal(work / "normal", n_files, "n")
    size = sum(p.stat().st_size for p in hostile_dir.rglob("*") if p.is_file())
    print(f"corpora built in {time.perf_counter() - t:.0f} s: {n_files} files each; hostile {size / 2**20:.0f} MiB "
          f"on disk ({len(expect)} hostile files)")  # fmt: skip

    tree_n, one_n, sec_n, _ = run_cli(work / "normal", work / "lake-normal")
    tree_h, one_h, sec_h, out_h = run_cli(hostile_dir, work / "lake-hostile")

    from ingestion.dicom.header import TRUNCATED_KEY
    from radlake import catalog, lake
    from radlake.config import Settings

    settings = Settings(lake=str(work / "lake-hostile"))
    files = lake.read_arrow(settings, catalog.uri(settings, "bronze", "dicom_files"))
    inst = lake.read_arrow(settings, catalog.uri(settings, "bronze", "dicom_instances"),
                           columns=["file_path", "header_json"])  # fmt: skip
    assert files is not None and inst is not None
    rows = {r["file_path"]: r for r in files.to_pylist()}
    json_len = {r["file_path"]: len(r["header_json"]) for r in inst.to_pylist()}
    wrong = []
    print("hostile cases (outcome, reason or header_json size):")
    for path, (outcome, code) in sorted(expect.items()):
        row = rows.get(path)
        got = row["outcome"] if row else "missing"
        if code == "truncated":
            detail = f"header_json {json_len.get(path, 0):,} bytes"
            ok = got == outcome and json_len.get(path, 1 << 30) < 1 << 20
            ok = ok and any(TRUNCATED_KEY in r["header_json"] for r in inst.to_pylist() if r["file_path"] == path)
        else:
            detail = (row or {}).get("reason") or ""
            ok = got == outcome and detail.startswith(code + ":")
        print(f"    {Path(path).name:28s} {got:9s} {detail[:90]}{'' if ok else '   <-- UNEXPECTED'}")
        if not ok:
            wrong.append(path)
    print(f"`radlake ingest dicom --workers 2` output (hostile): {out_h.strip().splitlines()[0]}")
    print("peak memory (psutil, 20 ms polls; CLI + 2 workers):")
    for label, tree, one, sec in (("normal ", tree_n, one_n, sec_n), ("hostile", tree_h, one_h, sec_h)):
        print(f"    {label} corpus: tree {tree / 2**20:6.0f} MiB, largest process {one / 2**20:5.0f} MiB, {sec:5.1f} s")
    print(f"    ratio hostile/normal: {tree_h / tree_n:.2f}x; target tree <= {TARGET / 2**30:.1f} GiB: "
          f"{'met' if tree_h <= TARGET else 'NOT met'}")  # fmt: skip
    if wrong:
        sys.exit(f"{len(wrong)} hostile files did not end as expected: the figures above are not valid")


if __name__ == "__main__":
    main()
