"""The checks, one module per claim family (``checks.frozen`` decides the claims ``frozen.*``).

A check is a plain function ``(Config) -> Evidence`` registered with ``theory.claims.check``: it
composes the libraries (``theory``, ``numerics``, ``cases``), decides the verdict, records the numbers,
the derivation and the figures as data. Sizes come from the family's ``SIZES[config.quick]``.
"""
