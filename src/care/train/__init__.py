"""Training: the built-in model (``care train lite``)."""
