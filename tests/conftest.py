"""Loaded before any test module: importing ``theory`` first sets its thread defaults
(one OpenBLAS thread, passive OpenMP waits) before numpy or torch is loaded."""

import theory  # noqa: F401
