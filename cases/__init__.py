"""Case generators and unit-equivalence graphs."""
