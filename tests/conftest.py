"""Loaded before any test module: the command line's thread defaults (``theory.threads.configure``)
apply to the tests too, before numpy or torch is loaded."""

from theory import threads

threads.configure()
