"""PyTorch models and their training, imported lazily: ``import qmml.supervised`` never loads
torch."""
