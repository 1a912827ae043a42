"""The patient 360 page: search a person across the group's hospitals and see every exam they had."""

from services.p360.router import router

__all__ = ["router"]
