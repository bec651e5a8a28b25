"""Symbolic side of the loss-of-plasticity verifier: the claim registry, the Evidence contract,
the DAG network formalism and the provers."""
