"""Torch modules of the PoseTraj model (imports torch)."""
