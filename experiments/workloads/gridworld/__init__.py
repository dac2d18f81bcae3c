"""Gridworld workloads: dynamic programming (``dp``) and tabular control (``control``), with
the problems both build (``problems``) and their figures (``plots``)."""
