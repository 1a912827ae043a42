"""The patient 360 page: search a person across the group's hospitals and see every exam they had."""

from services.p360.router import router
from services.p360.session import cookie_token

# Eager, not lazy: ``router`` is also a submodule's name (see radlake.faces).
__all__ = ["cookie_token", "router"]
