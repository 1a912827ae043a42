"""Where the lake's bytes live: one set of object-store options for delta-rs and one Arrow filesystem.

A local lake is a folder; an S3 lake (AWS, MinIO, any S3 API) is reached with the standard AWS environment
variables (``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...). Every reader and writer of the lake takes its
options and filesystem from here, so the lake is set up one way.

Safe commits on S3 need an atomic "create if absent" for the Delta log's next version. radlake uses S3's
conditional put (``If-None-Match: *``; AWS S3 since 2024, MinIO, Ceph RGW, R2) unless the site names a
DynamoDB lock table (``AWS_S3_LOCKING_PROVIDER=dynamodb`` + ``DELTA_DYNAMO_TABLE_NAME``), which is what
delta-spark's ``S3DynamoDBLogStore`` on a JVM Spark cluster speaks. Unsafe rename is never turned on.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from radlake.config import Settings

if TYPE_CHECKING:
    import pyarrow.fs as pafs

# The AWS variables delta-rs needs to reach the store (passed through as they are).
_AWS_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_ALLOW_HTTP",
)
# A DynamoDB commit lock, for sites whose JVM Spark commits through S3DynamoDBLogStore.
_LOCK_ENV = ("AWS_S3_LOCKING_PROVIDER", "DELTA_DYNAMO_TABLE_NAME", "AWS_ENDPOINT_URL_DYNAMODB")


def storage_options(settings: Settings) -> dict[str, str]:
    """Object-store options for delta-rs (empty for a local lake).

    Commits use S3 conditional put (``conditional_put: etag``), or the DynamoDB lock when
    ``AWS_S3_LOCKING_PROVIDER=dynamodb`` is set; ``AWS_S3_ALLOW_UNSAFE_RENAME`` is never set.
    """
    if not settings.lake_is_s3:
        return {}
    opts = {name: os.environ[name] for name in (*_AWS_ENV, *_LOCK_ENV) if os.environ.get(name)}
    if opts.get("AWS_S3_LOCKING_PROVIDER", "").lower() != "dynamodb":
        opts.pop("AWS_S3_LOCKING_PROVIDER", None)
        opts["conditional_put"] = "etag"
    return opts


def filesystem(settings: Settings) -> pafs.FileSystem | None:
    """An Arrow filesystem for the lake's files: S3 for an s3:// lake, None (local paths) otherwise."""
    if not settings.lake_is_s3:
        return None
    import pyarrow.fs as pafs

    return pafs.S3FileSystem(
        endpoint_override=os.environ.get("AWS_ENDPOINT_URL") or None,
        region=os.environ.get("AWS_REGION", "us-east-1"),
    )


def fs_path(settings: Settings, uri: str) -> str:
    """``uri`` as the filesystem of :func:`filesystem` names it (``bucket/key`` for S3, the path otherwise)."""
    return uri.removeprefix("s3://") if settings.lake_is_s3 else uri


def list_dir(settings: Settings, uri: str) -> list[str]:
    """Names of the entries directly under ``uri`` (empty when it does not exist)."""
    fs = filesystem(settings)
    if fs is None:
        return sorted(os.listdir(uri)) if os.path.isdir(uri) else []
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(fs_path(settings, uri), allow_not_found=True))
    return sorted(i.base_name for i in infos)


def list_sizes(settings: Settings, uri: str) -> dict[str, int]:
    """Every file under ``uri`` (recursively) with its size in bytes, keyed by its path relative to ``uri``."""
    fs = filesystem(settings)
    base = fs_path(settings, uri).rstrip("/")
    if fs is None:
        out: dict[str, int] = {}
        for root, _, names in os.walk(base):
            for n in names:
                full = os.path.join(root, n)
                out[os.path.relpath(full, base)] = os.path.getsize(full)
        return out
    import pyarrow.fs as pafs

    infos = fs.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    return {i.path[len(base) + 1 :]: i.size or 0 for i in infos if i.type == pafs.FileType.File}
