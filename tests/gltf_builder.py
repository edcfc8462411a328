"""A small glTF 2.0 writer for test assets (numpy only): meshes, materials, node trees, several scenes,
cameras, KHR_lights_punctual lights, skins and animations. Written for the tests and the asset-corpus
benchmark; it writes what the glTF 2.0 specification describes and nothing more."""

from __future__ import annotations

import base64
import json
import struct
from pathlib import Path

import numpy as np

FLOAT, UINT32, UINT16, UINT8 = 5126, 5125, 5123, 5121
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}


class GltfBuilder:
    """Accumulates a glTF document and one binary buffer; ``write`` makes a .glb or a .gltf (+ .bin)."""

    def __init__(self) -> None:
        self.doc: dict = {"asset": {"version": "2.0", "generator": "posetraj tests"}}
        self.blob = bytearray()

    def _add(self, key: str, item: dict) -> int:
        self.doc.setdefault(key, []).append(item)
        return len(self.doc[key]) - 1

    def _use_extension(self, name: str) -> None:
        used = self.doc.setdefault("extensionsUsed", [])
        if name not in used:
            used.append(name)

    def accessor(self, array: np.ndarray, component: int = FLOAT, target: int | None = None,
                 bounds: bool = False, width: int | None = None) -> int:
        """Store ``array`` (N, width) or (N,) and return its accessor index."""
        dtype = {FLOAT: "<f4", UINT32: "<u4", UINT16: "<u2", UINT8: "u1"}[component]
        data = np.ascontiguousarray(np.asarray(array).astype(dtype))
        count = data.shape[0]
        width = width or (1 if data.ndim == 1 else int(np.prod(data.shape[1:])))
        while len(self.blob) % 4:
            self.blob.append(0)
        view = {"buffer": 0, "byteOffset": len(self.blob), "byteLength": data.nbytes}
        if target is not None:
            view["target"] = target
        self.blob += data.tobytes()
        accessor = {"bufferView": self._add("bufferViews", view), "componentType": component, "count": count,
                    "type": TYPES[width]}
        if bounds:
            flat = data.reshape(count, width).astype(np.float64)
            accessor["min"] = [float(v) for v in np.nanmin(flat, axis=0)] if np.isfinite(flat).any() else [0.0] * width
            accessor["max"] = [float(v) for v in np.nanmax(flat, axis=0)] if np.isfinite(flat).any() else [0.0] * width
        return self._add("accessors", accessor)

    def material(self, color=(0.8, 0.8, 0.8, 1.0), *, alpha_mode: str = "OPAQUE", emissive=None,
                 emissive_strength: float | None = None, double_sided: bool = False, name: str = "") -> int:
        material: dict = {"pbrMetallicRoughness": {"baseColorFactor": list(map(float, color)),
                                                   "metallicFactor": 0.0, "roughnessFactor": 0.6},
                          "alphaMode": alpha_mode, "doubleSided": double_sided}
        if name:
            material["name"] = name
        if emissive is not None:
            material["emissiveFactor"] = list(map(float, emissive))
        if emissive_strength is not None:
            self._use_extension("KHR_materials_emissive_strength")
            material["extensions"] = {"KHR_materials_emissive_strength": {"emissiveStrength": emissive_strength}}
        return self._add("materials", material)

    def mesh(self, vertices: np.ndarray, faces: np.ndarray | None = None, *, material: int | None = None,
             mode: int = 4, joints: np.ndarray | None = None, weights: np.ndarray | None = None,
             name: str = "") -> int:
        """A one-primitive mesh. ``faces`` None writes no indices (a point cloud with ``mode=0``)."""
        attributes = {"POSITION": self.accessor(vertices, FLOAT, ARRAY_BUFFER, bounds=True, width=3)}
        if joints is not None:
            attributes["JOINTS_0"] = self.accessor(joints, UINT8, ARRAY_BUFFER, width=4)
            attributes["WEIGHTS_0"] = self.accessor(weights, FLOAT, ARRAY_BUFFER, width=4)
        primitive: dict = {"attributes": attributes, "mode": mode}
        if faces is not None:
            primitive["indices"] = self.accessor(np.asarray(faces).reshape(-1), UINT32, ELEMENT_ARRAY_BUFFER)
        if material is not None:
            primitive["material"] = material
        return self._add("meshes", {"primitives": [primitive], **({"name": name} if name else {})})

    def add_primitive(self, mesh: int, vertices: np.ndarray, faces: np.ndarray, material: int | None = None) -> None:
        """Another triangle primitive in ``mesh`` (e.g. a second material)."""
        primitive: dict = {"attributes": {"POSITION": self.accessor(vertices, FLOAT, ARRAY_BUFFER, bounds=True, width=3)},
                           "indices": self.accessor(np.asarray(faces).reshape(-1), UINT32, ELEMENT_ARRAY_BUFFER),
                           "mode": 4}
        if material is not None:
            primitive["material"] = material
        self.doc["meshes"][mesh]["primitives"].append(primitive)

    def camera(self, yfov: float = 0.8) -> int:
        return self._add("cameras", {"type": "perspective", "perspective": {"yfov": yfov, "znear": 0.05, "aspectRatio": 1.5}})

    def light(self, kind: str = "point", intensity: float = 50.0) -> int:
        self._use_extension("KHR_lights_punctual")
        lights = self.doc.setdefault("extensions", {}).setdefault("KHR_lights_punctual", {"lights": []})["lights"]
        lights.append({"type": kind, "intensity": intensity, "color": [1.0, 1.0, 1.0]})
        return len(lights) - 1

    def node(self, *, mesh: int | None = None, children=(), translation=None, rotation=None, scale=None,
             matrix=None, camera: int | None = None, light: int | None = None, skin: int | None = None,
             name: str = "") -> int:
        node: dict = {}
        for key, value in (("name", name or None), ("mesh", mesh), ("camera", camera), ("skin", skin),
                           ("translation", translation), ("rotation", rotation), ("scale", scale)):
            if value is not None:
                node[key] = value if not isinstance(value, (tuple, np.ndarray)) else [float(v) for v in value]
        if matrix is not None:
            node["matrix"] = [float(v) for v in np.asarray(matrix, dtype=np.float64).T.reshape(-1)]  # column-major
        if children:
            node["children"] = list(children)
        if light is not None:
            node["extensions"] = {"KHR_lights_punctual": {"light": light}}
        return self._add("nodes", node)

    def scene(self, nodes, *, default: bool = False, name: str = "") -> int:
        index = self._add("scenes", {"nodes": list(nodes), **({"name": name} if name else {})})
        if default or "scene" not in self.doc:
            self.doc["scene"] = index
        return index

    def skin(self, joints: list[int], inverse_bind: np.ndarray) -> int:
        matrices = np.stack([np.asarray(m, dtype=np.float64).T.reshape(-1) for m in inverse_bind])
        return self._add("skins", {"joints": joints, "inverseBindMatrices": self.accessor(matrices, FLOAT, width=16)})

    def animation(self, channels: list[tuple[int, str, np.ndarray, np.ndarray]]) -> int:
        """``channels``: (node, path, times (K,), values (K, width)) with LINEAR interpolation."""
        samplers, targets = [], []
        for index, (node, path, times, values) in enumerate(channels):
            width = {"translation": 3, "rotation": 4, "scale": 3}[path]
            samplers.append({"input": self.accessor(np.asarray(times, dtype=np.float64), FLOAT, bounds=True, width=1),
                             "output": self.accessor(values, FLOAT, width=width), "interpolation": "LINEAR"})
            targets.append({"sampler": index, "target": {"node": node, "path": path}})
        return self._add("animations", {"samplers": samplers, "channels": targets})

    def _document(self, uri: str | None) -> dict:
        doc = json.loads(json.dumps(self.doc))
        if self.blob:
            buffer = {"byteLength": len(self.blob)}
            if uri is not None:
                buffer["uri"] = uri
            doc["buffers"] = [buffer]
        return doc

    def glb_bytes(self) -> bytes:
        text = json.dumps(self._document(None), allow_nan=False).encode()
        text += b" " * (-len(text) % 4)
        blob = bytes(self.blob) + b"\0" * (-len(self.blob) % 4)
        chunks = struct.pack("<II", len(text), 0x4E4F534A) + text
        if blob:
            chunks += struct.pack("<II", len(blob), 0x004E4942) + blob
        return struct.pack("<III", 0x46546C67, 2, 12 + len(chunks)) + chunks

    def write(self, path: Path, *, embed: bool = False) -> Path:
        """``.glb``: one binary file; ``.gltf``: JSON plus ``<stem>.bin`` (or a data URI with ``embed``)."""
        path = Path(path)
        if path.suffix == ".glb":
            path.write_bytes(self.glb_bytes())
            return path
        if embed:
            uri = "data:application/octet-stream;base64," + base64.b64encode(bytes(self.blob)).decode()
        else:
            uri = f"{path.stem}.bin"
            (path.parent / uri).write_bytes(bytes(self.blob))
        path.write_text(json.dumps(self._document(uri), indent=1, allow_nan=False))
        return path


def box(extents=(1.0, 1.0, 1.0), centre=(0.0, 0.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """(vertices (8,3), faces (12,3)) of an axis-aligned box, outward winding."""
    corners = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    vertices = corners * np.asarray(extents, dtype=np.float64) + np.asarray(centre, dtype=np.float64)
    faces = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                      [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return vertices, faces
