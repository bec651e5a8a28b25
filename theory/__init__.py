"""Symbolic side of the loss-of-plasticity verifier (SymPy): networks as DAGs, manifolds, the prover,
optimizer update maps, Gaussian and Hermite machinery; plus the claim registry, the Evidence contract
and the command line."""
