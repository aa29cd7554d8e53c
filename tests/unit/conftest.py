"""Fixtures of the unit tests; the fakes live in ``core_fakes``."""

from core_fakes import core

__all__ = ["core"]
