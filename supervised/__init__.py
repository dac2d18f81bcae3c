"""Supervised-learning lectures: regression, NumPy networks, classification (see issue 5)."""

__all__: list[str] = []
