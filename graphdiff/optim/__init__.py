"""gd.optim: optimizers, gradient clipping and learning-rate schedules.

The optimizers live in ``optimizers.py`` and the schedules in ``schedules.py``; this
module only re-exports them.
"""

from . import schedules
from .optimizers import SGD, Adam, AdamW, Optimizer, RMSprop, clip_grad_norm, load_state, save_state

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "clip_grad_norm", "save_state",
           "load_state", "schedules"]
