"""PoseTraj: pose-aware trajectory control for Stable Video Diffusion.

The model, pipeline and training code live in this package; the renderer (`render`), asset
catalog (`assets_catalog`) and benchmark harness (`benchmark`) are sibling packages of the same
distribution. Importing this package is cheap: torch and diffusers are imported only by the
submodules that need them.
"""

__version__ = "0.1.0"
