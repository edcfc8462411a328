"""The layering of docs/architecture.md, checked on the source: nothing low imports anything high, only
render/blender imports bpy, and only the contracts' modules read clip and trajectory arrays."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# each package may import the packages listed (and itself); posetraj/commands may import everything
ALLOWED = {
    "common": set(),
    "assets_catalog": {"common"},
    "render": {"common", "assets_catalog"},
    "benchmark": {"common", "assets_catalog", "render"},
    "posetraj": {"common", "assets_catalog", "render", "benchmark"},
}
PACKAGES = set(ALLOWED)


def _modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_packages_import_only_lower_layers():
    violations = []
    for path in _modules():
        relative = path.relative_to(ROOT)
        package = relative.parts[0]
        if relative.parts[:2] == ("posetraj", "commands") or relative == Path("posetraj/__main__.py"):
            continue
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                violations.append(f"{relative}:{line} imports {module}")
            if module.startswith("posetraj.commands"):
                violations.append(f"{relative}:{line} imports a command module ({module})")
    assert not violations, "\n".join(violations)


def test_only_render_blender_imports_bpy():
    offenders = [f"{p.relative_to(ROOT)}:{line}" for p in _modules() for line, module in _imports(p)
                 if module.split(".")[0] in ("bpy", "mathutils", "bpy_extras")
                 and p.relative_to(ROOT).parts[:2] != ("render", "blender")]
    assert not offenders, offenders


# the modules that may call numpy.load: the clip reader, the trajectory reader (traj.npy), the
# benchmark's own cache of arrays and the reader of real training videos' camera-pose files
# the two contracts, the benchmark's cache, and the readers of two formats of their own (each with its own
# schema version): the trainer's camera poses and the suite's object meshes
NPY_READERS = {"common/clip_format.py", "common/trajectories.py", "benchmark/cache.py",
               "posetraj/training/camera_poses.py", "benchmark/object_model.py"}


def test_one_reader_per_contract():
    """Only the contracts' modules (and the benchmark cache) read .npz / .npy files: every consumer of
    clips and trajectories goes through common.clip_format and common.trajectories."""
    users = []
    for path in _modules():
        relative = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id in ("np", "numpy")
                    and relative not in NPY_READERS):
                users.append(f"{relative}:{node.lineno}")
    assert not users, f"numpy.load outside the contract readers: {users}"
