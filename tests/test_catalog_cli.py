"""`posetraj catalog` command line (JSON output parses) and Objaverse downloads against a local server."""

from __future__ import annotations

import gzip
import json
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trimesh

from assets_catalog.objaverse_source import ObjaverseMirror, fetch_objects
from posetraj.commands.main import main
from test_catalog import REAL_UID, UIDS, make_fake_objaverse, uid_of


def _run_json(capsys, *argv: str) -> dict:
    code = main(["catalog", *argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_cli_json_round_trip(tmp_path, capsys):
    root = tmp_path / "objaverse"
    make_fake_objaverse(root)
    cat = ["--catalog-dir", str(tmp_path / "cat")]
    built = _run_json(capsys, "build", *cat, "--objaverse-root", str(root), "--workers", "1")
    assert built["report"]["rows"] == 12 and built["by_source"] == {"builtin": 5, "objaverse": 7}
    listed = _run_json(capsys, "list", *cat, "--limit", "3")
    assert listed["count"] == 12 and len(listed["rows"]) == 3
    picked = _run_json(capsys, "filter", *cat, "--commercial-safe", "--source", "objaverse")
    assert set(picked["uids"]) == {UIDS["car"], UIDS["rig"]}  # the flat 'by' plate is dropped by default
    assert picked["removed"]["flatness"] == 1
    sampled = _run_json(capsys, "filter", *cat, "--sample", "4", "--seed", "3", "--out", str(tmp_path / "u.txt"))
    assert sampled["count"] == 4
    assert (tmp_path / "u.txt").read_text().split() == sampled["uids"]
    shown = _run_json(capsys, "show", *cat, UIDS["car"])
    assert shown["row"]["uid"] == UIDS["car"] and shown["file_exists"] is True
    assert Path(shown["file"]).is_file() and shown["row"]["license"] == "cc0"
    split = _run_json(capsys, "split", *cat, "--benchmark-fraction", "0.3")
    assert sum(split["counts"].values()) == 12
    train = _run_json(capsys, "filter", *cat, "--split", "train", "--min-flatness", "0", "--include-failed")
    assert train["count"] == split["counts"]["train"]
    sub = _run_json(capsys, "subset", *cat, "import", "mine", str(tmp_path / "u.txt"))
    assert sub["uids"] == sampled["uids"] and sub["missing"] == []
    assert _run_json(capsys, "subset", *cat, "list")["subsets"] == ["mine"]
    in_subset = _run_json(capsys, "filter", *cat, "--subset", "mine")
    assert set(in_subset["uids"]) <= set(sampled["uids"])


def test_cli_tables_and_errors(tmp_path, capsys):
    cat = ["--catalog-dir", str(tmp_path / "cat")]
    assert main(["catalog", "list", *cat]) == 2
    assert "run 'posetraj catalog build' first" in capsys.readouterr().err
    assert main(["catalog", "build", *cat, "--no-objaverse", "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "rows: 5 (5 ok, 0 failed)" in out
    assert main(["catalog", "list", *cat]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[1].split() == ["uid", "source", "category", "license", "face_count", "flatness", "status"]
    assert table[2].startswith("builtin-animal")
    assert main(["catalog", "show", *cat, "nope"]) == 2
    assert "not in the catalog" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["catalog", "--help"])
    assert "build" in capsys.readouterr().out


class _RangeHandler(SimpleHTTPRequestHandler):
    """Static files with single-range support, recording the Range headers it was sent."""

    ranges: list[str] = []

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        path = Path(self.translate_path(self.path))
        header = self.headers.get("Range")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        if header:
            type(self).ranges.append(header)
            start = int(header.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            data = data[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture()
def server(tmp_path):
    remote = tmp_path / "remote"
    make_fake_objaverse(remote)
    _RangeHandler.ranges = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_RangeHandler, directory=str(remote / "hf-objaverse-v1")))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", remote / "hf-objaverse-v1"
    httpd.shutdown()
    httpd.server_close()


def test_fetch_downloads_in_parallel_and_resumes(tmp_path, server):
    base_url, remote = server
    mirror = ObjaverseMirror(tmp_path / "local")
    glbs = mirror.base / "glbs"
    # one object already present, one interrupted half-way (a .tmp with its first bytes)
    (glbs / "000-000").mkdir(parents=True)
    (glbs / "000-000" / f"{UIDS['car']}.glb").write_bytes((remote / "glbs" / "000-000" / f"{UIDS['car']}.glb").read_bytes())
    full = (remote / "glbs" / "000-001" / f"{REAL_UID}.glb").read_bytes()
    (glbs / "000-001").mkdir()
    (glbs / "000-001" / f"{REAL_UID}.glb.tmp").write_bytes(full[:100])
    report = fetch_objects(mirror, [UIDS["car"], UIDS["chair"], REAL_UID, uid_of("unknown")], workers=3,
                           base_url=base_url, progress=False)
    assert report.present == [UIDS["car"]]
    assert sorted(report.downloaded) == sorted([UIDS["chair"], REAL_UID])
    assert report.unknown == [uid_of("unknown")] and report.failed == {}
    assert (glbs / "000-001" / f"{REAL_UID}.glb").read_bytes() == full
    assert _RangeHandler.ranges == ["bytes=100-"]  # resumed, not restarted
    assert not list(glbs.rglob("*.tmp"))
    # annotation shards of the fetched groups and the LVIS file came along and are readable
    for rel in ("metadata/000-000.json.gz", "metadata/000-001.json.gz", "lvis-annotations.json.gz"):
        with gzip.open(mirror.base / rel) as handle:
            assert json.load(handle)
    # a second fetch downloads nothing
    again = fetch_objects(mirror, [UIDS["chair"]], base_url=base_url, progress=False)
    assert again.present == [UIDS["chair"]] and again.downloaded == []


def test_fetch_reports_failures(tmp_path, server):
    base_url, remote = server
    (remote / "glbs" / "000-000" / f"{UIDS['chair']}.glb").unlink()  # listed in object-paths, gone remotely
    report = fetch_objects(ObjaverseMirror(tmp_path / "local"), [UIDS["chair"], UIDS["plate"]], base_url=base_url,
                           annotations=False, progress=False)
    assert report.downloaded == [UIDS["plate"]]
    assert list(report.failed) == [UIDS["chair"]] and "404" in report.failed[UIDS["chair"]]
    local = ObjaverseMirror(tmp_path / "local").base / "glbs" / "000-000"
    assert sorted(p.name for p in local.iterdir()) == [f"{UIDS['plate']}.glb"]  # no partial file left
    trimesh.load(local / f"{UIDS['plate']}.glb", force="scene")
