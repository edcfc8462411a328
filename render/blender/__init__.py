"""The Blender backend: the only code in the project that imports ``bpy``.

It realises a clip description (asset, poses, camera, scene) in Blender, renders it with Cycles and
returns frames, depth and masks; ground truth is computed from the description, not read back.
"""
