"""The issue-4 table: for each kind of row, its anchors and its target.

A benchmark emits rows ``{"key", "label", "spec", "value", "unit"}``; ``spec`` names an
entry here, so the anchors and targets live in one place, as in the issue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Spec:
    anchor: str
    target: str
    check: Callable[[float], bool] | None = None  # None: a reference row, no target


SPECS: dict[str, Spec] = {
    "mlp_gd_vs_numpy": Spec(
        "PyTorch eager 1.7-2.0, HIPS autograd 1.4-2.8, JAX jit 0.95-1.3",
        "<= 1.00",
        lambda v: v <= 1.00,
    ),
    "mlp_updates_vs_numpy": Spec(
        "today's 1.03-1.07 with opt.step outside the compiled function",
        "<= 1.00",
        lambda v: v <= 1.00,
    ),
    "mlp_gd_vs_floor": Spec("hand-written NumPy 1.11-1.26", "<= 1.15", lambda v: v <= 1.15),
    "mlp_numpy_vs_floor": Spec("1.11-1.26", "(reference)"),
    "mlp_ms": Spec("", "(absolute time)"),
    "mlp_torch_vs_numpy": Spec("1.7-2.0", "(peer)"),
    "mlp_autograd_vs_numpy": Spec("1.4-2.8", "(peer)"),
    "op_gd_us": Spec(
        "NumPy floor 0.75, PyTorch eager 3.3-4.2, HIPS autograd 6-7",
        "<= 1.5",
        lambda v: v <= 1.5,
    ),
    "op_numpy_us": Spec("0.75", "(floor)"),
    "op_torch_us": Spec("3.3-4.2", "(peer)"),
    "op_autograd_us": Spec("6-7", "(peer)"),
    "op_gd_vs_numpy": Spec(
        "PyTorch eager ~4.4-5.6, HIPS autograd ~8-9", "<= 2.0 (1.5 / 0.75)", lambda v: v <= 2.0
    ),
    "chain_gd_s": Spec("PyTorch eager 21 s at 10^6", "< PyTorch, same run"),
    "chain_torch_s": Spec("21 s at 10^6", "(peer)"),
    "chain_gd_vs_torch": Spec("", "< 1.0", lambda v: v < 1.0),
    "chain_gd_kb": Spec("PyTorch eager ~3 KB per op", "<= 1 KB per op", lambda v: v <= 1.0),
    "chain_torch_kb": Spec("~3 KB per op", "(peer)"),
    "chain_gd_exp": Spec(
        "", "~1 (<= 1.15; fixed costs pull small sizes below 1)", lambda v: v <= 1.15
    ),
    "chain_torch_exp": Spec("", "(peer)"),
    "chain_first_call": Spec("4.4 before tiered, chunked code generation", "<= 1.0",
                             lambda v: v <= 1.0),
    "chain_phase_s": Spec("", "(breakdown)"),
    "hvp_gd": Spec("JAX jit 1.8-2.0, PyTorch double backward 2.6", "<= 2.0", lambda v: v <= 2.0),
    "hvp_torch": Spec("2.6", "(peer)"),
    "hvp_fwd": Spec("reverse-over-reverse 2.07-2.15, JAX jvp-of-grad 2.34, PyTorch 2.67",
                    "<= 2.1", lambda v: v <= 2.1),
    "hvp_rev": Spec("2.07-2.15", "(the old form)"),
    "jvp_gd": Spec("product floor 2.67", "(ratio)"),
    "jvp_vs_floor": Spec("JAX jit jvp, torch.func.jvp", "<= 1.1", lambda v: v <= 1.1),
    "jvp_peer": Spec("", "(peer)"),
    "jac_fwd_vs_rev": Spec("", "<= 0.2", lambda v: v <= 0.2),
    "fd_ratio": Spec("theory ~2P/3 (2P forwards vs ~3 forwards)", "(grows ~P)"),
    "fd_exp": Spec("theory 1", "(reference)"),
    "mem_gd_vs_numpy": Spec("", "<= 1.1", lambda v: v <= 1.1),
    "mem_mb": Spec("", "(reference)"),
    "conv_gd_vs_torch": Spec("PyTorch eager (oneDNN) 1 thread", "<= 1.5", lambda v: v <= 1.5),
    "conv_fwd": Spec("PyTorch eager (oneDNN) 1 thread", "(breakdown)"),
    "conv_ms": Spec("", "(absolute time)"),
    "cnn_gd_vs_torch": Spec("PyTorch eager 1 thread", "<= 1.0", lambda v: v <= 1.0),
    "cnn_ms": Spec("", "(absolute time)"),
}


def verdict(spec: str, value: float) -> str:
    """'met', 'MISSED' or '' for rows without a target."""
    check = SPECS[spec].check
    if check is None or value != value:  # NaN: nothing measured
        return ""
    return "met" if check(value) else "MISSED"
