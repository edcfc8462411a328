"""Diffusion pipelines of PoseTraj (imports torch and diffusers)."""
