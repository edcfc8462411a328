"""Realise a :class:`render.scene.SceneDescription` (floor, lights, world) and key poses per frame."""

from __future__ import annotations

import math
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from render.scene import FLOOR_SIZE_M, FloorDescription, LightDescription, SceneDescription, WorldDescription


def _floor_texture_node(nodes, floor: FloorDescription):
    """A procedural (or image) texture node whose colour output drives the floor's base colour."""
    if floor.kind == "image":
        node = nodes.new("ShaderNodeTexImage")
        try:
            node.image = bpy.data.images.load(str(Path(floor.image_path)))
        except RuntimeError as exc:
            raise ValueError(f"floor texture {floor.image_path}: cannot load ({exc})") from None
        return node, "Color"
    if floor.kind == "checker":
        node = nodes.new("ShaderNodeTexChecker")
        node.inputs["Color1"].default_value = (*floor.color_a, 1.0)
        node.inputs["Color2"].default_value = (*floor.color_b, 1.0)
        node.inputs["Scale"].default_value = floor.scale * FLOOR_SIZE_M
        return node, "Color"
    kinds = {"noise": "ShaderNodeTexNoise", "voronoi": "ShaderNodeTexVoronoi", "wave": "ShaderNodeTexWave",
             "brick": "ShaderNodeTexBrick"}
    node = nodes.new(kinds[floor.kind])
    node.inputs["Scale"].default_value = floor.scale * (FLOOR_SIZE_M if floor.kind == "brick" else FLOOR_SIZE_M / 4)
    if floor.kind == "brick":
        node.inputs["Color1"].default_value = (*floor.color_a, 1.0)
        node.inputs["Color2"].default_value = (*floor.color_b, 1.0)
        return node, "Color"
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = (*floor.color_a, 1.0)
    ramp.color_ramp.elements[1].color = (*floor.color_b, 1.0)
    factor = "Distance" if floor.kind == "voronoi" else "Fac"
    node.id_data.links.new(node.outputs[factor], ramp.inputs["Fac"])
    return ramp, "Color"


def add_floor(floor: FloorDescription) -> bpy.types.Object:
    mesh = bpy.data.meshes.new("floor")
    half = FLOOR_SIZE_M / 2
    mesh.from_pydata([(-half, -half, 0), (half, -half, 0), (half, half, 0), (-half, half, 0)], [], [(0, 1, 2, 3)])
    mesh.uv_layers.new(name="UVMap")
    obj = bpy.data.objects.new("floor", mesh)
    bpy.context.scene.collection.objects.link(obj)
    material = bpy.data.materials.new("floor")
    nodes, links = material.node_tree.nodes, material.node_tree.links
    bsdf = next(n for n in nodes if n.type == "BSDF_PRINCIPLED")
    bsdf.inputs["Roughness"].default_value = floor.roughness
    coords = nodes.new("ShaderNodeTexCoord")
    texture, output = _floor_texture_node(nodes, floor)
    source = texture
    if texture.bl_idname == "ShaderNodeValToRGB":
        source = next(link.from_node for link in links if link.to_node == texture)
    links.new(coords.outputs["UV"], source.inputs["Vector"])
    links.new(texture.outputs[output], bsdf.inputs["Base Color"])
    obj.data.materials.append(material)
    obj.pass_index = 0
    return obj


def add_light(light: LightDescription) -> bpy.types.Object:
    data = bpy.data.lights.new(f"light_{light.kind.lower()}", type=light.kind)
    data.color = light.color
    direction = light.direction()
    if light.kind == "SUN":
        data.energy = light.strength
        data.angle = math.radians(light.angle_deg)
        location = direction * 10.0
    else:
        data.energy = light.strength
        data.size = light.size_m
        location = direction * light.distance_m
    obj = bpy.data.objects.new(data.name, data)
    bpy.context.scene.collection.objects.link(obj)
    obj.location = location.tolist()
    # Lights shine down their local -Z: aim it at the origin.
    obj.rotation_mode = "QUATERNION"
    from mathutils import Vector

    obj.rotation_quaternion = Vector((-direction).tolist()).to_track_quat("-Z", "Y")
    return obj


def set_world(world: WorldDescription) -> None:
    scene = bpy.context.scene
    data = bpy.data.worlds.new("world")
    scene.world = data
    nodes, links = data.node_tree.nodes, data.node_tree.links
    background = next(n for n in nodes if n.type == "BACKGROUND")
    background.inputs["Strength"].default_value = world.strength
    if world.hdri_path:
        env = nodes.new("ShaderNodeTexEnvironment")
        try:
            env.image = bpy.data.images.load(str(Path(world.hdri_path)))
        except RuntimeError as exc:
            raise ValueError(f"HDRI {world.hdri_path}: cannot load ({exc})") from None
        mapping = nodes.new("ShaderNodeMapping")
        mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(world.hdri_rotation_deg))
        coords = nodes.new("ShaderNodeTexCoord")
        links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
        links.new(mapping.outputs["Vector"], env.inputs["Vector"])
        links.new(env.outputs["Color"], background.inputs["Color"])
    else:
        background.inputs["Color"].default_value = (*world.color, 1.0)


def build_stage(description: SceneDescription) -> None:
    add_floor(description.floor)
    for light in description.lights:
        add_light(light)
    set_world(description.world)


def _set_constant_interpolation(obj: bpy.types.Object) -> None:
    from bpy_extras.anim_utils import action_get_channelbag_for_slot

    animation = obj.animation_data
    for curve in action_get_channelbag_for_slot(animation.action, animation.action_slot).fcurves:
        for key in curve.keyframe_points:
            key.interpolation = "CONSTANT"


def key_matrices(obj: bpy.types.Object, matrices: np.ndarray, first_frame: int = 1) -> None:
    """Key ``obj``'s location and rotation to ``matrices[t]`` at frame ``first_frame + t`` (held constant)."""
    obj.rotation_mode = "QUATERNION"
    for index, matrix in enumerate(matrices):
        location, rotation, _ = Matrix(matrix.tolist()).decompose()
        obj.location = location
        obj.rotation_quaternion = rotation
        frame = first_frame + index
        obj.keyframe_insert("location", frame=frame)
        obj.keyframe_insert("rotation_quaternion", frame=frame)
    _set_constant_interpolation(obj)


def add_camera(lens_mm: float, sensor_mm: float, blender_matrices: np.ndarray) -> bpy.types.Object:
    data = bpy.data.cameras.new("camera")
    data.lens = lens_mm
    data.sensor_width = sensor_mm
    data.sensor_fit = "AUTO"
    data.clip_start = 0.05
    data.clip_end = 1000.0
    obj = bpy.data.objects.new("camera", data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.scene.camera = obj
    key_matrices(obj, blender_matrices)
    return obj
