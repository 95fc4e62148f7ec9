"""Compiling a graph for running: rewrites, feeds and fetches, plans, buffer reuse,
generated code.

``rewrite.rewrite`` (``compile/rewrite.py``, a table of rules) first gives the fetches
stand-ins computing the same values through a smaller schedule, without changing the graph.

A :class:`Plan` is the flat schedule of the nodes some fetches need; :func:`run_steps` is
the one interpreted loop over it (with the anomaly check inside it when asked);
:class:`Schedule` is the same plan as generated straight-line code, the fast path, and
:class:`Tiered` picks between them (interpreted until generating the code pays);
:class:`Function` ties them together for ``g.function``. Nothing here changes the user's
graph, except that leaves move once into the library of fed arrays that refuse NumPy
operands (``Plan.place_leaves``).
"""

from .codegen import CHUNK_STEPS, CODEGEN_STEPS, GENERATED, Schedule, Tiered, scalar_arrays
from .feeds import check_feed, flatten
from .function import Function
from .plan import Plan, located, run_steps
from .reuse import INPLACE_MIN_SIZE, reusable_inputs
from .rewrite import RULES, Rewrite, Rewrites

__all__ = ["check_feed", "flatten", "Plan", "run_steps", "located", "reusable_inputs",
           "INPLACE_MIN_SIZE", "Schedule", "GENERATED", "CODEGEN_STEPS", "CHUNK_STEPS", "Tiered",
           "scalar_arrays", "Function", "Rewrite", "Rewrites", "RULES"]
