"""radlake: an open-source lakehouse for medical imaging data."""

import os as _os

__version__ = "0.1.0"


def _default_spark_home() -> None:
    """Point SPARK_HOME at the installed pyspark package unless it is set.

    radlake depends on pyspark-client 4.2.0 (the Spark Connect client, without Spark's jars). Importing its
    connect module runs a test helper that looks for a Spark distribution and exits the process when there is
    none. The package folder is what a pip-installed full pyspark uses as SPARK_HOME too, so this changes
    nothing where the jars exist. Done here, before any layer imports pyspark.
    """
    if "SPARK_HOME" in _os.environ:
        return
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    if spec is not None and spec.submodule_search_locations:
        _os.environ["SPARK_HOME"] = next(iter(spec.submodule_search_locations))


_default_spark_home()
