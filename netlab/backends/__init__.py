"""Backends: apply a plan to a machine, observe it, undo it."""
