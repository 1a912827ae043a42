"""radlake: an open-source lakehouse for medical imaging data."""

__version__ = "0.1.0"
