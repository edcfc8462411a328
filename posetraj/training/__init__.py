"""Training code of PoseTraj (imports torch)."""
