"""Numeric side: the same invariants measured on trained torch networks."""
