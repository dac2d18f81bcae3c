"""The NumPy networks of the lectures: layers with forward and backward passes, optimisers,
scikit-learn-contract MLPs. Written out by hand on purpose: that is the lesson."""
