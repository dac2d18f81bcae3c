"""Supervised-learning workloads (lectures 2-6): regression, the NumPy network, classification,
with their shared data handling (``common``) and figures (``plots``)."""
