"""Errors radlake raises on purpose: each carries a one-line message a person can act on."""

from __future__ import annotations


class RadlakeError(Exception):
    """A failure radlake explains in one line; the CLI prints it without a traceback."""

    exit_code = 2


class ConfigError(RadlakeError):
    """radlake.yaml (or an environment override) holds a value radlake cannot use."""


class SourceUnreachableError(RadlakeError):
    """A source system (a RIS/HIS database, a DICOM peer) could not be reached."""

    exit_code = 3


class LakeError(RadlakeError):
    """The lake cannot be read or written (missing, not writable, not a Delta table)."""

    exit_code = 4


class DataError(RadlakeError):
    """Input data breaks a rule; the message names the file or row and the reason."""

    exit_code = 5
