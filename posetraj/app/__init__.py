"""``posetraj app``: draw trajectories on an image and get the generated video, or the true 3D render.

Modules: :mod:`~posetraj.app.strokes` (the drawing: clicked points, undo, smoothing, frames, JSON),
:mod:`~posetraj.app.generation` (PoseTraj or any benchmark adapter on the drawn trajectories),
:mod:`~posetraj.app.render_mode` (the drawn path lifted onto the floor and rendered by Blender),
:mod:`~posetraj.app.examples` (example images), :mod:`~posetraj.app.layout` (the Gradio page; the only
module that imports gradio). Importing this package imports neither gradio nor torch.
"""
