"""Leaderboard from benchmark results: a Markdown table and a static HTML page.

Inputs are results folders written by ``posetraj bench run`` (``summary.json`` + ``samples.parquet``).
The page is self-contained apart from the preview GIFs it writes next to it: no external script,
style sheet or font.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.aggregate import HIGHER_IS_BETTER
from benchmark.harness import SAMPLES_FILE, SUMMARY_FILE
from common.atomic import write_json_atomic
from common.trajectories import Trajectories, select_frames

LEADERBOARD_SCHEMA_VERSION = 1
# (key, header, format) of the main table, in order
COLUMNS = (
    ("objmc", "ObjMC px", "{:.2f}"), ("ade", "ADE px", "{:.2f}"), ("fde", "FDE px", "{:.2f}"),
    ("objmc_norm", "ObjMC/diag", "{:.4f}"), ("within_5px", "≤5px", "{:.3f}"), ("within_10px", "≤10px", "{:.3f}"),
    ("within_20px", "≤20px", "{:.3f}"), ("rotation_error_deg", "Rot err °", "{:.2f}"),
    ("heading_error_deg", "Heading err °", "{:.2f}"), ("box_corner_error", "Box px", "{:.2f}"),
    ("rotation_error_abs_deg", "Rot err vs 3D GT °", "{:.2f}"),
    ("pose_fail_rate", "PnP fail", "{:.3f}"), ("psnr", "PSNR", "{:.2f}"), ("ssim", "SSIM", "{:.3f}"),
    ("lpips", "LPIPS", "{:.3f}"), ("fid", "FID", "{:.2f}"), ("fvd", "FVD", "{:.2f}"),
)
FAMILY_COLUMNS = ("objmc", "ade", "rotation_error_deg", "heading_error_deg", "box_corner_error",
                  "rotation_error_abs_deg")
PALETTE = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666")


class LeaderboardError(ValueError):
    """Results cannot be put on one leaderboard."""


@dataclass
class Entry:
    path: Path
    summary: dict
    rows: list[dict]

    @property
    def model(self) -> str:
        return self.summary["model"]["name"]

    def metric(self, key: str) -> float | None:
        if key in ("fid", "fvd"):
            return self.summary["metrics"].get("set_level", {}).get(key)
        return self.summary["metrics"]["groups"]["overall"].get(key)


def load_results(path: str | Path) -> Entry:
    """One results folder (or its summary.json)."""
    path = Path(path)
    folder = path.parent if path.name == SUMMARY_FILE else path
    if not (folder / SUMMARY_FILE).is_file():
        raise LeaderboardError(f"{folder}: no {SUMMARY_FILE}; run 'posetraj bench run' first")
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    rows: list[dict] = []
    if (folder / SAMPLES_FILE).is_file():
        import pandas as pd

        rows = pd.read_parquet(folder / SAMPLES_FILE).to_dict("records")
    return Entry(path=folder, summary=summary, rows=rows)


def _fmt(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def _provenance(entry: Entry) -> str:
    tracker = entry.summary["tracker"]
    sha = tracker.get("weights_sha256")
    return f"{tracker.get('tracker')} ({'weights ' + sha[:12] if sha else 'no weights'})"


def markdown_table(entries: list[Entry]) -> str:
    """The main leaderboard as a Markdown table, with provenance columns for every number."""
    cols = [c for c in COLUMNS if any(e.metric(c[0]) is not None for e in entries)]
    head = ["Model", "Samples (failed)"] + [c[1] for c in cols] + ["Tracker", "Suite version", "Adapter"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e in entries:
        s = e.summary
        cells = [e.model, f"{s['num_samples']} ({s['num_failed']})"]
        cells += [_fmt(e.metric(k), f) for k, _, f in cols]
        cells += [_provenance(e), s["suite"]["suite_version"], str(s["model"]["identity"].get("adapter"))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _svg_scatter(entries: list[Entry], key: str, ylabel: str, width: int = 460, height: int = 300) -> str:
    """Inline SVG: per-sample ``key`` against the sample's ground-truth rotation angle, one colour per model."""
    points = [(i, r["rotation_angle_deg"], r.get(key)) for i, e in enumerate(entries) for r in e.rows
              if r.get("status") == "ok" and r.get("rotation_angle_deg") is not None and r.get(key) is not None
              and not (isinstance(r.get(key), float) and math.isnan(r.get(key)))]
    if not points:
        return f'<p class="note">No per-sample {html.escape(ylabel)} with a known rotation angle.</p>'
    xs = [p[1] for p in points]
    ys = [p[2] for p in points]
    x_max = max(10.0, max(xs) * 1.05)
    y_max = max(1e-6, max(ys) * 1.1)
    left, right, top, bottom = 52, 12, 12, 40
    pw, ph = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + pw * x / x_max

    def sy(y: float) -> float:
        return top + ph * (1 - y / y_max)

    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{html.escape(ylabel)} against rotation angle">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for k in range(5):
        xv, yv = x_max * k / 4, y_max * k / 4
        parts.append(f'<text x="{sx(xv):.1f}" y="{height - bottom + 14}" font-size="10" text-anchor="middle">{xv:.0f}</text>')
        parts.append(f'<text x="{left - 4}" y="{sy(yv) + 3:.1f}" font-size="10" text-anchor="end">{yv:.3g}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">'
                 f'ground-truth rotation angle (°)</text>')
    parts.append(f'<text x="12" y="{top + ph / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + ph / 2})">{html.escape(ylabel)}</text>')
    for i, x, y in points:
        parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{PALETTE[i % len(PALETTE)]}" '
                     f'fill-opacity="0.8"><title>{html.escape(entries[i].model)}: {y:.3g} at {x:.1f}°</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _svg_curves(entries: list[Entry], key: str, ylabel: str, width: int = 460, height: int = 300) -> str:
    """Inline SVG: per-frame curve ``key`` averaged over each model's scored samples, one line per model."""
    curves = []
    for i, e in enumerate(entries):
        lists = [[v for v in r[key]] for r in e.rows if r.get("status") == "ok" and r.get(key) is not None]
        if not lists:
            continue
        length = max(len(v) for v in lists)
        mean = []
        for t in range(length):
            vals = [v[t] for v in lists if t < len(v) and v[t] is not None and not math.isnan(v[t])]
            mean.append(float(np.mean(vals)) if vals else None)
        curves.append((i, mean))
    if not curves:
        return f'<p class="note">No per-frame {html.escape(ylabel)}.</p>'
    t_max = max(1, max(len(c) for _, c in curves) - 1)
    y_max = max(1e-6, max(v for _, c in curves for v in c if v is not None) * 1.1)
    left, right, top, bottom = 52, 12, 12, 40
    pw, ph = width - left - right, height - top - bottom
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{html.escape(ylabel)} per frame">',
             f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for k in range(5):
        tv, yv = t_max * k / 4, y_max * k / 4
        parts.append(f'<text x="{left + pw * tv / t_max:.1f}" y="{height - bottom + 14}" font-size="10" '
                     f'text-anchor="middle">{tv:.0f}</text>')
        parts.append(f'<text x="{left - 4}" y="{top + ph * (1 - yv / y_max) + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{yv:.3g}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">frame</text>')
    parts.append(f'<text x="12" y="{top + ph / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + ph / 2})">{html.escape(ylabel)}</text>')
    for i, curve in curves:
        pts = " ".join(f"{left + pw * t / t_max:.1f},{top + ph * (1 - v / y_max):.1f}"
                       for t, v in enumerate(curve) if v is not None)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="2">'
                     f'<title>{html.escape(entries[i].model)}</title></polyline>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(entries: list[Entry]) -> str:
    return "".join(f'<span class="key"><span class="dot" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
                   f'{html.escape(e.model)}</span>' for i, e in enumerate(entries))


def _preview_video(entry: Entry, row: dict, sample) -> np.ndarray | None:
    """The scored video of one sample, from the run's cache (or the files of a model that has no cache
    entries: a folder of videos, the oracle)."""
    from benchmark.cache import ArrayCache

    key = row.get("video_key")
    if key:
        hit = ArrayCache(entry.summary["cache_dir"]).get("videos", key)
        return None if hit is None else hit["frames"]
    from benchmark.models import uncached_model

    model = uncached_model(entry.summary["model"]["identity"])
    if model is None:
        return None
    from benchmark.video_check import validate_video

    return validate_video(model.generate_for(sample), sample.id, sample.num_frames, sample.width, sample.height)[0]


def draw_trajectories(frames: np.ndarray, conditioning: Trajectories, tracked: Trajectories, scale: int) -> np.ndarray:
    """Frames upscaled by ``scale`` with the conditioning paths (green) and the tracked paths (red) drawn
    up to the current frame (the shared trajectory overlay, common.drawing)."""
    from common.drawing import draw_trajectory_overlay, upscale_nearest

    big = upscale_nearest(frames, scale)
    big = draw_trajectory_overlay(big, conditioning, colors=(40, 220, 60))
    return draw_trajectory_overlay(big, tracked, colors=(230, 40, 40))


def write_gif(path: Path, frames: np.ndarray, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    tmp = path.with_name(f".{path.name}.tmp")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    tmp.replace(path)


def _previews(entries: list[Entry], out: Path, max_samples: int) -> str:
    from benchmark.suite import load_suite

    media = out / "media"
    media.mkdir(parents=True, exist_ok=True)
    try:
        suite = load_suite(entries[0].summary["suite"]["path"])
    except (ValueError, OSError):
        return '<p class="note">Suite not found; no sample videos.</p>'
    samples = {s.id: s for s in suite.samples}
    ids = [r["sample_id"] for r in entries[0].rows if r.get("status") == "ok"][:max_samples]
    blocks = []
    for sample_id in ids:
        sample = samples.get(sample_id)
        if sample is None:
            continue
        figures = []
        for index, entry in enumerate(entries):
            row = next((r for r in entry.rows if r["sample_id"] == sample_id and r.get("status") == "ok"), None)
            frames = _preview_video(entry, row, sample) if row else None
            if frames is None:
                figures.append(f"<figure><figcaption>{html.escape(entry.model)}: video not available</figcaption></figure>")
                continue
            size = (sample.width, sample.height)
            tracked = Trajectories.from_dict(json.loads(row["tracked_trajectories"]), size)
            cond = select_frames(sample.trajectories, sample.num_frames)
            scale = max(1, int(round(256 / max(sample.width, sample.height))))
            name = f"{index:02d}_{sample_id}.gif"
            write_gif(media / name, draw_trajectories(frames, cond, tracked, scale), sample.fps)
            figures.append(f'<figure><img src="media/{html.escape(name)}" alt="{html.escape(entry.model)} on '
                           f'{html.escape(sample_id)}"><figcaption>{html.escape(entry.model)} · ObjMC '
                           f'{row["objmc"]:.2f}</figcaption></figure>')
        blocks.append(f'<h3>{html.escape(sample_id)} ({html.escape(sample.family)})</h3>'
                      f'<div class="gallery">{"".join(figures)}</div>')
    return "".join(blocks) or '<p class="note">No scored samples.</p>'


SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].getAttribute('data-value'), y = b.cells[col].getAttribute('data-value');
        var nx = parseFloat(x), ny = parseFloat(y);
        var c;
        if (x === '' && y === '') c = 0; else if (x === '') return 1; else if (y === '') return -1;
        else if (!isNaN(nx) && !isNaN(ny)) c = nx - ny; else c = x < y ? -1 : (x > y ? 1 : 0);
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
td:first-child, th:first-child { text-align: left; }
.note { color: #666; font-size: 13px; } .warn { color: #a00; font-weight: bold; } .plots { display: flex; flex-wrap: wrap; gap: 1.5em; }
.key { margin-right: 1em; font-size: 13px; } .dot { display: inline-block; width: 10px; height: 10px;
  border-radius: 5px; margin-right: 4px; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; } figure { margin: 0; } figcaption { font-size: 12px; }
"""


def _cell(value: float | None, fmt: str) -> str:
    data = "" if value is None or (isinstance(value, float) and math.isnan(value)) else repr(float(value))
    return f'<td data-value="{data}">{_fmt(value, fmt)}</td>'


def html_page(entries: list[Entry], out: Path, title: str, max_previews: int) -> str:
    cols = [c for c in COLUMNS if any(e.metric(c[0]) is not None for e in entries)]
    head = "".join(f'<th data-key="{k}" title="{"higher" if k in HIGHER_IS_BETTER else "lower"} is better">'
                   f"{html.escape(h)}</th>" for k, h, _ in cols)
    body = []
    for e in entries:
        s = e.summary
        cells = "".join(_cell(e.metric(k), f) for k, _, f in cols)
        body.append(f'<tr><td data-value="{html.escape(e.model)}">{html.escape(e.model)}</td>'
                    f'<td data-value="{s["num_failed"]}">{s["num_samples"]} ({s["num_failed"]})</td>{cells}'
                    f'<td data-value="{html.escape(_provenance(e))}">{html.escape(_provenance(e))}</td>'
                    f'<td data-value="{html.escape(str(s["model"]["identity"].get("adapter")))}">'
                    f'{html.escape(str(s["model"]["identity"].get("adapter")))}</td></tr>')
    families = sorted({f for e in entries for f in e.summary["metrics"]["by_family"]})
    fam_rows = []
    for e in entries:
        for fam in families:
            agg = e.summary["metrics"]["by_family"].get(fam, {})
            cells = "".join(_cell(agg.get(k), "{:.2f}") for k in FAMILY_COLUMNS)
            fam_rows.append(f'<tr><td data-value="{html.escape(e.model)}">{html.escape(e.model)}</td>'
                            f'<td data-value="{html.escape(fam)}">{html.escape(fam)}</td>'
                            f'<td data-value="{agg.get("num_samples", 0)}">{agg.get("num_samples", 0)}</td>{cells}</tr>')
    fam_head = "".join(f"<th>{html.escape(dict((k, h) for k, h, _ in COLUMNS)[k])}</th>" for k in FAMILY_COLUMNS)
    suites = sorted({e.summary["suite"]["suite_version"] for e in entries})
    trackers = sorted({_provenance(e) for e in entries})
    protocols = sorted({e.summary.get("objmc_queries", "direct") for e in entries})
    warning = ('<p class="warn">These results come from different suites or ObjMC query protocols; their numbers '
               'are not comparable.</p>') if len(suites) > 1 or len(protocols) > 1 else ""
    failures = [f"{html.escape(e.model)}: {html.escape(f['sample_id'])}: {html.escape(str(f['error']))}"
                for e in entries for f in e.summary.get("failures", [])]
    failure_html = ("<h2>Failed samples</h2><ul>" + "".join(f"<li>{f}</li>" for f in failures) + "</ul>") if failures else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="note">Suite version: {html.escape(", ".join(suites))} · Tracker: {html.escape(", ".join(trackers))} ·
ObjMC queries: {html.escape(", ".join(protocols))} ·
Click a column header to sort. ObjMC is pooled over all points and frames as in the DragAnything protocol;
definitions in docs/benchmark.md.</p>
{warning}
<h2>Leaderboard</h2>
<table class="sortable" id="leaderboard"><thead><tr><th data-key="model">Model</th><th data-key="failed">Samples (failed)</th>{head}<th>Tracker</th><th>Adapter</th></tr></thead>
<tbody>{"".join(body)}</tbody></table>
{failure_html}
<h2>Per-family breakdown</h2>
<table class="sortable" id="families"><thead><tr><th>Model</th><th>Family</th><th>Samples</th>{fam_head}</tr></thead>
<tbody>{"".join(fam_rows)}</tbody></table>
<h2>Error against rotation angle</h2>
<p>{_legend(entries)}</p>
<div class="plots">{_svg_scatter(entries, "rotation_error_deg", "rotation error (°)")}
{_svg_scatter(entries, "objmc", "ObjMC (px)")}</div>
<h2>Error per frame</h2>
<div class="plots">{_svg_curves(entries, "error_per_frame", "trajectory error (px)")}
{_svg_curves(entries, "rotation_error_per_frame", "rotation error (°)")}</div>
<h2>Sample videos</h2>
<p class="note">Green: the conditioning trajectory. Red: the trajectory the tracker recovered from the video.</p>
{_previews(entries, out, max_previews)}
<script>{SORT_SCRIPT}</script>
</body></html>
"""


def write_leaderboard(results: list[str | Path], out: str | Path, *, title: str = "posetraj benchmark",
                      max_previews: int = 3) -> dict[str, Path]:
    """Write ``leaderboard.md``, ``index.html`` (+ ``media/``) and ``leaderboard.json`` into ``out``."""
    entries = [load_results(r) for r in results]
    if not entries:
        raise LeaderboardError("no results given")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "leaderboard.md", "html": out / "index.html", "json": out / "leaderboard.json"}
    markdown = f"# {title}\n\n" + markdown_table(entries)
    page = html_page(entries, out, title, max_previews)
    for key, text in (("markdown", markdown), ("html", page)):
        tmp = paths[key].with_name(f".{paths[key].name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(paths[key])
    write_json_atomic(paths["json"], {
        "schema_version": LEADERBOARD_SCHEMA_VERSION,
        "entries": [{"model": e.model, "results": str(e.path), "suite_version": e.summary["suite"]["suite_version"],
                     "tracker": e.summary["tracker"], "adapter": e.summary["model"]["identity"],
                     "metrics": {k: e.metric(k) for k, _, _ in COLUMNS}} for e in entries]})
    return paths
