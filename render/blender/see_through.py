"""Depth and mask of objects with see-through materials.

Cycles writes a surface into its depth and object-index passes when its alpha is at least the view layer's
pass alpha threshold; below it, still on a random share of the surface's pixels about equal to its alpha
(measured with Principled BSDF alpha 0.1 / 0.4 / 0.9 under threshold 0.5 / 0.95: 8 %, 35 %, 89 % of the
pixels, the same at 1, 4 and 16 samples). So an object with a see-through material gets its depth and
mask from one more render at 1 sample in which every Principled BSDF alpha is thresholded at
:data:`render.groundtruth.MASK_ALPHA_THRESHOLD` (0 or 1): a part counts in depth and mask exactly where
it is opaque enough, while the frames keep the real blend. Opaque objects are not rendered again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import bpy
import numpy as np

from render.blender import engine
from render.groundtruth import MASK_ALPHA_THRESHOLD
from render.spec import RenderSettings

PRINCIPLED = "ShaderNodeBsdfPrincipled"


def see_through_materials(objects: list) -> list:
    """Materials of ``objects`` with a Principled BSDF whose alpha is below 1 or comes from a texture."""
    found = []
    for obj in objects:
        for slot in obj.material_slots:
            material = slot.material
            if material is None or material in found or material.node_tree is None:
                continue
            for node in material.node_tree.nodes:
                alpha = node.inputs["Alpha"] if node.bl_idname == PRINCIPLED else None
                if alpha is not None and (alpha.is_linked or alpha.default_value < 1.0):
                    found.append(material)
                    break
    return found


@contextlib.contextmanager
def thresholded_alpha(materials: list) -> Iterator[None]:
    """Every Principled BSDF alpha of ``materials`` is 1 where it is >= MASK_ALPHA_THRESHOLD, else 0, until exit
    (a constant is replaced, a texture's alpha goes through a Greater Than node)."""
    restore = []
    for material in materials:
        tree = material.node_tree
        for node in [n for n in tree.nodes if n.bl_idname == PRINCIPLED]:
            alpha = node.inputs["Alpha"]
            if alpha.is_linked:
                source = alpha.links[0].from_socket
                step = tree.nodes.new("ShaderNodeMath")
                step.operation = "GREATER_THAN"
                step.inputs[1].default_value = np.nextafter(np.float32(MASK_ALPHA_THRESHOLD), np.float32(0))
                tree.links.new(source, step.inputs[0])
                tree.links.new(step.outputs[0], alpha)
                restore.append(lambda tree=tree, step=step, source=source, alpha=alpha: (
                    tree.nodes.remove(step), tree.links.new(source, alpha)))
            else:
                value = alpha.default_value
                alpha.default_value = 1.0 if value >= MASK_ALPHA_THRESHOLD else 0.0
                restore.append(lambda alpha=alpha, value=value: setattr(alpha, "default_value", value))
    try:
        yield
    finally:
        for undo in reversed(restore):
            undo()


def exact_passes(materials: list, settings: RenderSettings, num_frames: int, fps: float, work_dir: Path,
                 file_output: bpy.types.Node) -> tuple[np.ndarray, np.ndarray]:
    """(depth, mask) of every full frame rendered at 1 sample with ``materials``' alpha thresholded."""
    scene = bpy.context.scene
    engine.configure_cycles(replace(settings, samples=1, denoise=False, adaptive_sampling=False), num_frames, fps)
    engine.set_render_region(None, settings.width, settings.height)
    pass_dir = Path(work_dir) / "see_through_passes"
    file_output.directory = str(pass_dir) + "/"
    scene.render.filepath = str(pass_dir / "rgb_")
    with thresholded_alpha(materials):
        bpy.ops.render.render(animation=True)
    return engine.read_passes(pass_dir, num_frames)
