"""Headless Blender renderer: trajectories, scenes, ground truth and clip I/O.

Only the `render.blender` subpackage imports `bpy`; everything else here is pure numpy."""
