"""The simulated hospital group: RIS/HIS databases, DICOM files and the truth beside them."""

from __future__ import annotations

from simulator.live import LiveSummary, run_live
from simulator.simulate import SimulationSummary, simulate, source_configs

__all__ = ["LiveSummary", "SimulationSummary", "run_live", "simulate", "source_configs"]
