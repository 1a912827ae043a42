"""Pulling studies from a PACS: C-FIND over time windows, C-MOVE or C-GET, a resumable state per study."""
