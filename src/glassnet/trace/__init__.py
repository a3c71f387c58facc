"""See every number: training steps recorded from the engine, laid out as text, JSON, HTML or a workbook.

>>> import glassnet as gn
>>> model, X, y = gn.trace.preset("article")
>>> trace = gn.trace.record(model, X, y, steps=1)
>>> trace.steps[0]["Z1"].formula
'A0·W1 + b1'
"""

from .presets import PRESETS, preset
from .recorder import SUPPORTED, check_traceable, record
from .records import Quantity, Step, Trace, from_json

__all__ = ["PRESETS", "SUPPORTED", "Quantity", "Step", "Trace", "check_traceable", "from_json", "preset", "record"]
