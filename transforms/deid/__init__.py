"""One de-identification for everything that leaves an identified space: keyed UIDs and attribute rules.

The data services' research spaces use it for every answer, and the research export reuses it, so the same
study carries the same pseudonymous UID wherever it is seen. Pure functions of the site key and the values.
"""

from transforms.deid.attributes import deidentify_dataset, deidentify_json, rule_for
from transforms.deid.uids import pseudo_uid

__all__ = ["deidentify_dataset", "deidentify_json", "pseudo_uid", "rule_for"]
