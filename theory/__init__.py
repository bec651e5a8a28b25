"""Symbolic side of the loss-of-plasticity verifier: the claim registry, the Evidence contract,
the DAG network formalism and the provers."""

import os

# numpy's OpenBLAS threads and torch's OpenMP threads spin against each other once both are
# loaded: on 2 cores a 1000x50 numpy SVD took 1.8 s after `import torch` instead of 0.045 s with
# one BLAS thread. The heavy linear algebra here runs in torch, so numpy gets one thread unless
# the user chose otherwise. Only effective when numpy has not been imported yet.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# Idle OpenMP threads sleep instead of spinning: with other work on the 2 cores, spinning made a
# clone-training check 10x slower (538 s). Only effective before torch is imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
