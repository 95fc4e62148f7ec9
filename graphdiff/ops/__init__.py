"""Primitive ops, forward and bprop side by side, grouped by kind."""
