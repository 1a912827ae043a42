"""Atomic publish of the gold warehouse files: each build writes new files, readers switch at one rename.

A DuckDB file open read-only in one process cannot be opened to write by another, and a file being written
cannot be read. So a gold build never writes the published file: :func:`begin_build` gives it a fresh copy
under ``_builds/<build id>/`` beside the published path, and :func:`publish_build` swaps the published path
(a symbolic link) to the new file with one ``rename`` — atomic on POSIX. A reader that opened the previous
file keeps reading it (an open file outlives its name), so it sees the old marts or the new ones, never a
mix; new connections see the new marts. For an S3 lake the same files are also uploaded under
``<lake>/gold/_warehouse/<build id>/`` and a small pointer object per file names the current build (an S3
PUT of one object is atomic), so readers elsewhere (the SQL endpoint in another pod) attach immutable
objects. Builds older than ``retention.warehouse_build_minutes`` are removed, never the current nor the
previous one.
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from radlake import column_tags
from radlake.config import Settings
from radlake.errors import LakeError

BUILDS_DIR = "_builds"
"""Folder beside a published file holding one sub-folder per build (``<id>/<catalog name>.duckdb``)."""

S3_PREFIX = "gold/_warehouse"
"""Under the lake: ``<build id>/<catalog name>.duckdb`` objects and one ``<catalog name>.current`` pointer each."""

CATALOG_NAMES = {False: "warehouse", True: "stewards_warehouse"}
"""The database name of each file (DuckDB names a database after its file's stem): analysts', stewards'."""


@dataclass(frozen=True)
class Build:
    """One gold build's new files, before they are published."""

    build_id: str
    analysts: Path
    stewards: Path

    def path(self, stewards: bool) -> Path:
        """The build's analysts' file, or with ``stewards`` its stewards' file."""
        return self.stewards if stewards else self.analysts


def published_path(settings: Settings, stewards: bool = False) -> Path:
    """Where readers open the file: the configured path (a symbolic link once a build is published)."""
    return Path(settings.stewards_warehouse_path if stewards else settings.warehouse_path)


def current_file(settings: Settings, stewards: bool = False) -> Path:
    """The file the published path stands for now (the build's own path, resolved once).

    Open this path rather than the link: DuckDB keeps one database per path in a process, so a process that
    still holds the previous build open would otherwise be handed that one again.
    """
    return published_path(settings, stewards).resolve()


def _new_build_id() -> str:
    # Sortable by time, unique across hosts building at once.
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ") + "-" + secrets.token_hex(3)


def _build_file(settings: Settings, build_id: str, stewards: bool) -> Path:
    return published_path(settings, stewards).parent / BUILDS_DIR / build_id / f"{CATALOG_NAMES[stewards]}.duckdb"


def begin_build(settings: Settings) -> Build:
    """Make the next build's two files: copies of the published ones (a build of a few models keeps the rest).

    Published files are never written again, so copying them while readers hold them open is safe.
    """
    build_id = _new_build_id()
    build = Build(build_id, _build_file(settings, build_id, False), _build_file(settings, build_id, True))
    for stewards in (False, True):
        target = build.path(stewards)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = published_path(settings, stewards)
        if source.exists():
            shutil.copyfile(source.resolve(), target)
            # A file written in place before publishing existed may hold changes in its WAL still.
            wal = Path(f"{source.resolve()}.wal")
            if wal.exists():
                shutil.copyfile(wal, f"{target}.wal")
    return build


def _checkpoint(path: Path) -> None:
    """Fold the file's WAL into it: readers of a published file must need nothing beside it."""
    import duckdb

    # The marts are plain tables (no view over delta_scan): no extension is needed to open the file.
    with duckdb.connect(str(path), config={"autoinstall_known_extensions": False}) as con:
        con.execute("CHECKPOINT")
    if Path(f"{path}.wal").exists():
        raise LakeError(f"{path}: its WAL survived a checkpoint; not publishing")


def _swap_link(link: Path, target: Path) -> None:
    """Point ``link`` at ``target`` in one rename (a reader resolving it meanwhile gets the old or the new)."""
    relative = os.path.relpath(target, link.parent)
    tmp = link.parent / f".{link.name}.{target.parent.name}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(relative, tmp)
    # A plain file written in place by an older radlake: its WAL would be replayed into the new target.
    Path(f"{link}.wal").unlink(missing_ok=True)
    os.replace(tmp, link)


def publish_build(settings: Settings, build: Build) -> None:
    """Publish a finished build: checkpoint, switch the local links, upload to S3 (S3 lakes), prune old builds.

    Raises
    ------
    LakeError
        A build file is missing (dbt wrote elsewhere), holds a column its readers may not see
        (:func:`check_audience`), or the object store refused an upload.
    """
    for stewards in (False, True):
        path = build.path(stewards)
        if not path.exists():
            raise LakeError(f"{path}: the build wrote no {CATALOG_NAMES[stewards]} file; nothing published")
        _checkpoint(path)
        check_audience(path, stewards)
    if settings.lake_is_s3:
        # Upload before switching locally: whoever follows the S3 pointer finds the same build as local readers.
        for stewards in (False, True):
            _upload(settings, build, stewards)
    for stewards in (False, True):
        _swap_link(published_path(settings, stewards), build.path(stewards))
    prune_builds(settings)


def columns_hidden_from_readers(path: Path, stewards: bool) -> list[tuple[str, str]]:
    """``(table, column)`` of a warehouse file that its readers may not see, by the lake's column tags
    (:mod:`radlake.column_tags`): in the analysts' file every tagged column, in the stewards' file the personal
    ones."""
    import duckdb

    hidden = column_tags.hidden_from("stewards" if stewards else "analysts")
    with duckdb.connect(str(path), read_only=True) as con:
        columns = con.execute("select table_name, column_name from information_schema.columns order by 1, 2").fetchall()
    return [(table, column) for table, column in columns if column.lower() in hidden]


def check_audience(path: Path, stewards: bool) -> None:
    """Refuse a warehouse file with a column its readers may not see (:func:`columns_hidden_from_readers`).

    Raises
    ------
    LakeError
        Naming the first such table and column, and its tag.
    """
    for table, column in columns_hidden_from_readers(path, stewards)[:1]:
        raise LakeError(
            f"{path}: {table}.{column} is {column_tags.tag(column)} data, which the {CATALOG_NAMES[stewards]} "
            "file may not hold; nothing published"
        )


def abandon_build(build: Build) -> None:
    """Remove a build that failed: the published files stay as they were."""
    for stewards in (False, True):
        shutil.rmtree(build.path(stewards).parent, ignore_errors=True)


def _builds_kept(ids: list[str], current: set[str], keep_minutes: float, now: float) -> set[str]:
    """Build ids to keep: the current ones, the one before, and all younger than ``keep_minutes``."""
    ordered = sorted(ids)
    keep = set(current)
    older = [i for i in ordered if i < min(current, default="")]
    if older:
        keep.add(older[-1])
    for build_id in ordered:
        try:
            made = datetime.strptime(build_id.split("-")[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            keep.add(build_id)  # not ours: leave it alone
            continue
        if now - made < keep_minutes * 60:
            keep.add(build_id)
    return keep


def prune_builds(settings: Settings, *, now: float | None = None) -> list[str]:
    """Remove builds past ``retention.warehouse_build_minutes``; returns the removed build folders.

    A reader that still has a removed local file open keeps reading it (POSIX frees a file's blocks when its
    last reader closes it); the retention covers readers that resolved the link but did not open it yet, and
    S3 readers, which cannot be counted.
    """
    keep_minutes = settings.retention.warehouse_build_minutes
    now = time.time() if now is None else now
    removed: list[str] = []
    folders = {published_path(settings, s).parent / BUILDS_DIR for s in (False, True)}
    current = {current_file(settings, s).parent.name for s in (False, True)}
    for folder in folders:
        if not folder.is_dir():
            continue
        ids = [p.name for p in folder.iterdir() if p.is_dir()]
        for build_id in sorted(set(ids) - _builds_kept(ids, current, keep_minutes, now)):
            shutil.rmtree(folder / build_id, ignore_errors=True)
            removed.append(str(folder / build_id))
    if settings.lake_is_s3:
        removed += _prune_s3(settings, keep_minutes, now)
    return removed


# --- S3 -------------------------------------------------------------------------------------------------


def s3_object_uri(settings: Settings, build_id: str, stewards: bool) -> str:
    """The S3 object of one build's file (immutable once written)."""
    return f"{settings.lake}/{S3_PREFIX}/{build_id}/{CATALOG_NAMES[stewards]}.duckdb"


def _pointer_uri(settings: Settings, stewards: bool) -> str:
    return f"{settings.lake}/{S3_PREFIX}/{CATALOG_NAMES[stewards]}.current"


def _upload(settings: Settings, build: Build, stewards: bool) -> None:
    from radlake.storage import filesystem, fs_path

    fs = filesystem(settings)
    assert fs is not None
    target = s3_object_uri(settings, build.build_id, stewards)
    try:
        with build.path(stewards).open("rb") as src, fs.open_output_stream(fs_path(settings, target)) as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
        # The pointer last: one PUT, so a reader reads the old build id or the new one.
        with fs.open_output_stream(fs_path(settings, _pointer_uri(settings, stewards))) as dst:
            dst.write(build.build_id.encode("ascii"))
    except OSError as exc:
        raise LakeError(f"publishing {target}: {exc}") from None


def current_s3_uri(settings: Settings, stewards: bool = False) -> str | None:
    """The S3 object of the current build's file (None when none was published to this lake)."""
    from radlake.storage import filesystem, fs_path

    fs = filesystem(settings)
    if fs is None:
        return None
    try:
        with fs.open_input_stream(fs_path(settings, _pointer_uri(settings, stewards))) as src:
            build_id = src.read().decode("ascii").strip()
    except (FileNotFoundError, OSError):
        return None
    return s3_object_uri(settings, build_id, stewards)


def _prune_s3(settings: Settings, keep_minutes: float, now: float) -> list[str]:
    from radlake.storage import filesystem, fs_path, list_dir

    fs = filesystem(settings)
    assert fs is not None
    base = f"{settings.lake}/{S3_PREFIX}"
    ids = [n for n in list_dir(settings, base) if not n.endswith(".current")]
    current = {u.rsplit("/", 2)[-2] for s in (False, True) if (u := current_s3_uri(settings, s))}
    removed = []
    for build_id in sorted(set(ids) - _builds_kept(ids, current, keep_minutes, now)):
        fs.delete_dir(fs_path(settings, f"{base}/{build_id}"))
        removed.append(f"{base}/{build_id}")
    return removed
