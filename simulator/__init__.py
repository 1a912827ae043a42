"""The simulated hospital group: RIS/HIS databases, DICOM files and the truth beside them."""

from __future__ import annotations

from simulator.hl7_feed import facility_of
from simulator.live import LiveSummary, run_live
from simulator.pacs import AE_TITLE as PACS_AE_TITLE
from simulator.pacs import SimulatedPacs
from simulator.people import write_registry
from simulator.ris import MAX_EXAM_LEAD_DAYS, TABLE_COLUMNS
from simulator.simulate import SimulationSummary, simulate, source_configs

# Eager, not lazy: ``simulate`` is also a submodule's name (see radlake.faces); the CLI and the demo load the
# simulator only inside the commands that drive it.
__all__ = [
    "MAX_EXAM_LEAD_DAYS",
    "PACS_AE_TITLE",
    "TABLE_COLUMNS",
    "LiveSummary",
    "SimulatedPacs",
    "SimulationSummary",
    "facility_of",
    "run_live",
    "simulate",
    "source_configs",
    "write_registry",
]
