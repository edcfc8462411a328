"""The contracts and helpers every part of the suite shares; the lowest layer of the project.

* :mod:`common.clip_format`: the rendered-clip contract (``meta.json``, ``annotations.npz``, the video),
  its writer and its one reader;
* :mod:`common.trajectories`: the 2D image-trajectory contract (one type, one reader per file format,
  one resize rule, one outlier rule);
* :mod:`common.video`: H.264 encode / decode; :mod:`common.drawing`: anti-aliased drawing and
  trajectory overlays; :mod:`common.atomic`: atomic file writes; :mod:`common.hashing`: content hashes.

Nothing here imports ``render``, ``assets_catalog``, ``benchmark`` or ``posetraj`` (see docs/architecture.md).
"""
