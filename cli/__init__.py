"""The ``radlake`` command line: the top layer, above orchestration and services; the library never imports it."""
