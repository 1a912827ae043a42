"""Speed of the batch CLI: 250,000 distinct raw names through ``radlake standardize`` (target: under 60 s).

Run: ``.venv/bin/python bench/standardize.py [--names 250000] [--compare 50000] [--workdir DIR]``.

Names come from the simulator's house styles with extra random noise (clinical notes, numbers, symbols,
spacing), so that most of them stay distinct even after normalisation; a share of them is rewritten in the
conventions of other hospitals (issue 19: scanner prefixes, pinyin for the Chinese words, shape typos).
Two baselines run in the same process: the engine as it was before issue 19 (``other_styles=False``: no
scanner stripping, no pinyin, no shape confusables) against today's engine over the same ``--compare`` names
in one process, and a naive lookup (normalise each name, look it up among the normalised dev-set names).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from radlake.exam_standard import load_standard  # noqa: E402
from simulator.exam_names import billing_lines, exam_items, spell  # noqa: E402
from transforms.exam_names.lexicon import load_lexicon  # noqa: E402
from transforms.exam_names.normalize import normalize  # noqa: E402

_VENDORS = ["GE", "西门子", "Siemens Skyra", "飞利浦", "Philips Ingenia", "东芝 Aquilion", "联影uCT 760", "佳能"]
_FIELDS = ["", "1.5T ", "3.0T ", "64排 ", "128排 ", "16层 "]
_SHAPES = {"踝": "裸", "囊": "襄", "肋": "助", "盘": "盆", "髂": "骼", "宫": "官", "膝": "漆"}
_NOTES = ["随访", "术后", "复查", "外伤", "头痛", "咳嗽", "腹痛", "肺结节", "体检", "车祸", "发热", "胸痛"]
_UNITS = ["天", "月", "年", "周", "次", "号"]


def _other_style(name: str, rng: random.Random) -> str:
    """The same name as another hospital might write it (issue 19): scanner prefix, pinyin or a shape typo."""
    r = rng.random()
    if r < 0.4:
        return f"{rng.choice(_VENDORS)} {rng.choice(_FIELDS)}{name}"
    if r < 0.8:
        from pypinyin import Style, lazy_pinyin

        spaced = rng.random() < 0.5
        out, run = [], []
        for ch in name + " ":
            if "\u4e00" <= ch <= "\u9fff":
                run.append(ch)
                continue
            if run:
                sylls = lazy_pinyin("".join(run), style=Style.NORMAL)
                out.append(" " + (" " if spaced else "").join(sylls) + " ")
                run = []
            out.append(ch)
        return "".join(out).strip()
    return "".join(_SHAPES.get(c, c) for c in name)


def generate_names(n: int, seed: int = 2026, other_styles: float = 0.1) -> list[tuple[str, str]]:
    """``n`` distinct (institution, raw_name) pairs, a share ``other_styles`` of them in other hospitals' ways."""
    rng = random.Random(seed)
    items = exam_items(dicom_modalities={"CT", "MR", "DX", "MG", "US", "RF", "NM", "PT", "XA"})
    weights = [i.weight for i in items]
    billing = billing_lines()
    seen: set[tuple[str, str]] = set()
    out: list[tuple[str, str]] = []
    while len(out) < n:
        institution = f"h{rng.randrange(1, 100):02d}"
        if rng.random() < 0.02:
            name = rng.choice(billing) + rng.choice(["", f"({rng.randrange(1, 20)})", "*"])
        else:
            name = spell(rng.choices(items, weights)[0], institution, rng)
            r = rng.random()
            if r < 0.2:
                name += f"({rng.choice(_NOTES)}{rng.randrange(1, 60)}{rng.choice(_UNITS)})"
            elif r < 0.4:
                name += f"({rng.choice(_NOTES)})"
            elif r < 0.7:
                name = f"{rng.randrange(1, 99999):05d} " + name
            elif r < 0.8:
                name += rng.choice(["*", "#", " ", "△", "。"]) * rng.randrange(1, 3)
            if rng.random() < other_styles:
                name = _other_style(name, rng)
        pair = (institution, name)
        if pair not in seen:
            seen.add(pair)
            out.append(pair)
    return out


def naive_baseline(names: list[tuple[str, str]]) -> float:
    """Seconds for a plain dict lookup of each normalised name among the normalised dev-set names."""
    standard = load_standard()
    lexicon = load_lexicon(standard)
    with standard.dev_set_path().open(encoding="utf-8", newline="") as fh:
        table = {normalize(r["raw_name"], lexicon).text: r["codes"] for r in csv.DictReader(fh)}
    started = time.perf_counter()
    hits = sum(1 for _, raw in names if normalize(raw, lexicon).text in table)
    seconds = time.perf_counter() - started
    print(
        f"naive baseline: {len(names):,} names in {seconds:.2f} s ({len(names) / seconds:,.0f} names/s), "
        f"{hits:,} found in the dev set ({hits / len(names):.1%})"
    )
    return seconds


def engine_baseline(names: list[tuple[str, str]]) -> tuple[float, float]:
    """Seconds to map ``names`` in this process with the engine before issue 19 and with today's engine."""
    from transforms.exam_names.engine import ExamNameEngine

    timings = []
    for other_styles in (False, True):
        engine = ExamNameEngine(load_standard(), other_styles=other_styles)
        engine.map("tou lu CT")  # build the lazy indexes (pinyin, sounds, shapes) before the clock starts
        engine.map("助骨CT")
        started = time.perf_counter()
        statuses: dict[str, int] = {}
        for institution, raw in names:
            status = engine.map(raw, institution).status
            statuses[status] = statuses.get(status, 0) + 1
        timings.append(time.perf_counter() - started)
        label = "today's engine" if other_styles else "engine before issue 19"
        print(
            f"{label}, one process: {len(names):,} names in {timings[-1]:.1f} s "
            f"({len(names) / timings[-1]:,.0f} names/s); {dict(sorted(statuses.items()))}"
        )
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=250_000)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--compare", type=int, default=50_000, help="names mapped in-process by the old and new engine (0: skip)"
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="radlake-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    names = generate_names(args.names)
    source = workdir / "names.csv"
    with source.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["institution", "raw_name"])
        writer.writerows(names)
    lexicon = load_lexicon(load_standard())
    forms = {normalize(raw, lexicon).key for _, raw in names}
    print(f"{len(names):,} distinct names ({len(forms):,} distinct normalised forms) in {source}")
    cli = ROOT / ".venv" / "bin" / "radlake"
    command = [str(cli), "standardize", "--input", str(source), "--output", str(workdir / "result.csv")]
    env = dict(os.environ, RADLAKE_CONFIG="")
    started = time.perf_counter()
    done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"radlake standardize failed ({done.returncode}): {done.stderr.strip()}")
    print(done.stderr.strip())
    print(
        f"batch CLI: {len(names):,} names in {seconds:.1f} s ({len(names) / seconds:,.0f} names/s, "
        f"{os.cpu_count()} cores); target < 60 s: {'met' if seconds < 60 else 'MISSED'}"
    )
    if args.compare:
        before, after = engine_baseline(names[: args.compare])
        print(
            f"ratio today / before issue 19 (same names, same process): {after / before:.2f}x; "
            f"the CLI run above would take about {seconds * before / after:.1f} s with the old engine"
        )
    baseline = naive_baseline(names)
    print(
        f"ratio CLI / naive lookup: {seconds / baseline:.1f}x the time of a plain normalise-and-lookup "
        "(which maps only names already in the dev set)"
    )


if __name__ == "__main__":
    main()
