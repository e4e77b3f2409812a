"""Compatibility name of the hook: ``from mlsec_ddp_hook import PoisonMonitorHook`` keeps working.

The hook lives in the ``mlsec_hook`` package beside this file; see its docstring.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mlsec_hook import (  # noqa: E402,F401
    ListAccumulator,
    PoisonMonitorHook,
    bucket_sums,
    cosines_from_dots,
    record_from_sums,
    seal,
)

__all__ = ["PoisonMonitorHook", "cosines_from_dots", "record_from_sums", "seal", "ListAccumulator"]
