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
from benchmark.harness import RESULTS_SCHEMA_VERSION, SAMPLES_FILE, SUMMARY_FILE
from common.atomic import write_json_atomic, write_text_atomic
from common.trajectories import Trajectories, select_frames

LEADERBOARD_SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Column:
    """One number of the main table: ``key`` of the ``group`` aggregate (``set`` for FID/FVD)."""

    key: str
    group: str
    label: str
    fmt: str

    @property
    def id(self) -> str:
        return f"{self.key}@{self.group}"


GROUP_LABELS = {"overall": "all", "rotational": "rotational", "translation_only": "translation-only", "set": "all"}
# the main table, on the page, in leaderboard.md and in the console summaries (same groups, same labels);
# the pose columns are errors against the 3D ground truth, headlined on the rotational group
COLUMNS = (
    Column("objmc", "overall", "ObjMC px (all)", "{:.2f}"),
    Column("ade", "overall", "ADE px (all)", "{:.2f}"),
    Column("fde", "overall", "FDE px (all)", "{:.2f}"),
    Column("within_10px", "overall", "≤10px (all)", "{:.3f}"),
    Column("rotation_error_deg", "rotational", "Rot err ° vs 3D (rotational)", "{:.2f}"),
    Column("heading_error_deg", "rotational", "Heading err ° (rotational)", "{:.2f}"),
    Column("box_corner_error", "rotational", "Box px (rotational)", "{:.2f}"),
    Column("pose_fail_rate", "rotational", "Pose fail (rotational)", "{:.3f}"),
    Column("rotation_error_deg", "translation_only", "Rot err ° vs 3D (translation-only)", "{:.2f}"),
    Column("psnr", "overall", "PSNR (all)", "{:.2f}"),
    Column("ssim", "overall", "SSIM (all)", "{:.3f}"),
    Column("lpips", "overall", "LPIPS (all)", "{:.3f}"),
    Column("fid", "set", "FID (all)", "{:.2f}"),
    Column("fvd", "set", "FVD (all)", "{:.2f}"),
)
# models are ranked by the first of these that any of them has
RANK_COLUMNS = (COLUMNS[4], COLUMNS[0])
FAMILY_COLUMNS = ("objmc", "ade", "rotation_error_deg", "heading_error_deg", "box_corner_error", "pose_fail_rate")
FAMILY_LABELS = {"objmc": "ObjMC px", "ade": "ADE px", "rotation_error_deg": "Rot err ° vs 3D",
                 "heading_error_deg": "Heading err °", "box_corner_error": "Box px", "pose_fail_rate": "Pose fail"}
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

    def _group(self, column: Column) -> dict:
        if column.group == "set":
            return self.summary["metrics"].get("set_level", {})
        return self.summary["metrics"]["groups"].get(column.group, {})

    def metric(self, column: Column) -> float | None:
        value = self._group(column).get(column.key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    def count(self, column: Column) -> int | None:
        """Samples the value rests on (None for set-level metrics)."""
        return None if column.group == "set" else self._group(column).get("n", {}).get(column.key)

    def interval(self, column: Column) -> tuple[float, float] | None:
        ci = None if column.group == "set" else self._group(column).get("ci95", {}).get(column.key)
        return None if ci is None else (float(ci[0]), float(ci[1]))


def load_results(path: str | Path) -> Entry:
    """One results folder (or its summary.json)."""
    path = Path(path)
    folder = path.parent if path.name == SUMMARY_FILE else path
    if not (folder / SUMMARY_FILE).is_file():
        raise LeaderboardError(f"{folder}: no {SUMMARY_FILE}; run 'posetraj bench run' first")
    summary = json.loads((folder / SUMMARY_FILE).read_text())
    if summary.get("schema_version") != RESULTS_SCHEMA_VERSION:
        raise LeaderboardError(f"{folder}: results schema version {summary.get('schema_version')!r}, this leaderboard "
                               f"reads {RESULTS_SCHEMA_VERSION}; score the model again with 'posetraj bench run'")
    rows: list[dict] = []
    if (folder / SAMPLES_FILE).is_file():
        import pandas as pd

        rows = pd.read_parquet(folder / SAMPLES_FILE).to_dict("records")
    return Entry(path=folder, summary=summary, rows=rows)


def columns_of(entries: list[Entry]) -> list[Column]:
    """The main-table columns that some entry has a value for."""
    return [c for c in COLUMNS if any(e.metric(c) is not None for e in entries)]


def ranks(entries: list[Entry]) -> tuple[list[int | None], Column | None]:
    """1-based rank of each entry by the first :data:`RANK_COLUMNS` column any entry has (ties share a
    rank; entries without a value are unranked), and that column."""
    column = next((c for c in RANK_COLUMNS if any(e.metric(c) is not None for e in entries)), None)
    if column is None:
        return [None] * len(entries), None
    sign = -1.0 if column.key in HIGHER_IS_BETTER else 1.0
    values = [e.metric(column) for e in entries]
    return [None if v is None else 1 + sum(sign * w < sign * v for w in values if w is not None) for v in values], column


def best_values(entries: list[Entry], columns: list[Column]) -> dict[str, float]:
    """The best value of each column over the entries (lowest, or highest where higher is better)."""
    best = {}
    for column in columns:
        values = [v for v in (e.metric(column) for e in entries) if v is not None]
        if values:
            best[column.id] = max(values) if column.key in HIGHER_IS_BETTER else min(values)
    return best


def _fmt(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def cell_text(entry: Entry, column: Column) -> str:
    """``value [low, high] (n=N)``: the mean, its 95% bootstrap interval over samples and the sample count."""
    value = entry.metric(column)
    if value is None:
        return "–"
    text = column.fmt.format(value)
    ci, n = entry.interval(column), entry.count(column)
    if ci is not None:
        text += f" [{column.fmt.format(ci[0])}, {column.fmt.format(ci[1])}]"
    if n is not None:
        text += f" (n={n})"
    return text


def _provenance(entry: Entry) -> str:
    tracker = entry.summary["tracker"]
    sha = tracker.get("weights_sha256")
    return f"{tracker.get('tracker')} ({'weights ' + sha[:12] if sha else 'no weights'})"


def run_info(entries: list[Entry]) -> dict[str, list[str]]:
    """Suites, trackers, code versions, run dates and ObjMC protocols of the entries (distinct, sorted)."""
    def values(get) -> list[str]:
        return sorted({str(get(e)) for e in entries})

    return {"suite": values(lambda e: e.summary["suite"]["suite_version"]), "tracker": values(_provenance),
            "code version": values(lambda e: e.summary.get("code_version", "unknown")),
            "run date": values(lambda e: e.summary.get("run_date", "unknown")),
            "ObjMC queries": values(lambda e: e.summary.get("objmc_queries", "direct"))}


def summary_table(entries: list[Entry]) -> list[str]:
    """Plain-text lines of the main table for a console (same columns, groups and labels as the page)."""
    columns = columns_of(entries)
    rank, _ = ranks(entries)
    head = ["rank", "model", "samples (failed)"] + [c.label for c in columns]
    rows = [[str(r) if r else "–", e.model, f"{e.summary['num_samples']} ({e.summary['num_failed']})"]
            + [cell_text(e, c) for c in columns] for e, r in zip(entries, rank)]
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    return ["  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip() for line in [head] + rows]


def markdown_table(entries: list[Entry]) -> str:
    """The main leaderboard as a Markdown table (best value per column in bold), with provenance."""
    columns = columns_of(entries)
    rank, rank_column = ranks(entries)
    best = best_values(entries, columns)
    head = ["Rank", "Model", "Samples (failed)"] + [c.label for c in columns] + ["Tracker", "Suite version", "Adapter"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for e, r in zip(entries, rank):
        s = e.summary
        cells = [str(r) if r else "–", e.model, f"{s['num_samples']} ({s['num_failed']})"]
        for c in columns:
            text = cell_text(e, c)
            cells.append(f"**{text}**" if e.metric(c) is not None and e.metric(c) == best.get(c.id) else text)
        cells += [_provenance(e), s["suite"]["suite_version"], str(s["model"]["identity"].get("adapter"))]
        lines.append("| " + " | ".join(cells) + " |")
    info = run_info(entries)
    notes = [f"Ranked by {rank_column.label}." if rank_column else "No ranking metric.",
             "Cells: mean [95% bootstrap interval over samples] (n = samples); best value per column in bold.",
             "Pose errors are against the 3D ground truth; a frame whose pose was not recovered counts as 180°."]
    notes += [f"{k.capitalize()}: {', '.join(v)}." for k, v in info.items()]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _axes(parts: list[str], width: int, height: int, x_max: float, y_max: float, xlabel: str, ylabel: str,
          left: int, top: int, pw: int, ph: int) -> None:
    parts.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>')
    for k in range(5):
        xv, yv = x_max * k / 4, y_max * k / 4
        parts.append(f'<text x="{left + pw * xv / x_max:.1f}" y="{top + ph + 14}" font-size="10" '
                     f'text-anchor="middle">{xv:.0f}</text>')
        parts.append(f'<text x="{left - 4}" y="{top + ph * (1 - yv / y_max) + 3:.1f}" font-size="10" '
                     f'text-anchor="end">{yv:.3g}</text>')
    parts.append(f'<text x="{left + pw / 2}" y="{height - 6}" font-size="11" text-anchor="middle">'
                 f'{html.escape(xlabel)}</text>')
    parts.append(f'<text x="12" y="{top + ph / 2}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 12 {top + ph / 2})">{html.escape(ylabel)}</text>')


def _svg_scatter(entries: list[Entry], key: str, ylabel: str, width: int = 460, height: int = 300) -> str:
    """Inline SVG: per-sample ``key`` against the sample's total ground-truth rotation travelled
    (``rotation_travel_deg``, which does not saturate at 180°), one colour per model."""
    points = [(i, float(r["rotation_travel_deg"]), float(r[key])) for i, e in enumerate(entries) for r in e.rows
              if r.get("status") == "ok" and _valid(r.get("rotation_travel_deg")) and _valid(r.get(key))]
    if not points:
        return f'<p class="note">No per-sample {html.escape(ylabel)} with a known rotation.</p>'
    x_max = max(10.0, max(p[1] for p in points) * 1.05)
    y_max = max(1e-6, max(p[2] for p in points) * 1.1)
    left, top, pw, ph = 52, 12, width - 64, height - 52
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{html.escape(ylabel)} against rotation travelled">']
    _axes(parts, width, height, x_max, y_max, "ground-truth rotation travelled (°, sum over frames)", ylabel,
          left, top, pw, ph)
    for i, x, y in points:
        parts.append(f'<circle cx="{left + pw * x / x_max:.1f}" cy="{top + ph * (1 - y / y_max):.1f}" r="3.5" '
                     f'fill="{PALETTE[i % len(PALETTE)]}" fill-opacity="0.8"><title>{html.escape(entries[i].model)}: '
                     f'{y:.3g} at {x:.0f}°</title></circle>')
    parts.append("</svg>")
    return "".join(parts)


def _valid(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _svg_curves(entries: list[Entry], key: str, ylabel: str, width: int = 460, height: int = 300) -> str:
    """Inline SVG: per-frame curve ``key`` averaged over each model's scored samples, one line per model."""
    curves = []
    for i, e in enumerate(entries):
        lists = [list(r[key]) for r in e.rows if r.get("status") == "ok" and r.get(key) is not None]
        if not lists:
            continue
        length = max(len(v) for v in lists)
        mean = []
        for t in range(length):
            vals = [v[t] for v in lists if t < len(v) and _valid(v[t])]
            mean.append(float(np.mean(vals)) if vals else None)
        if any(v is not None for v in mean):
            curves.append((i, mean))
    if not curves:
        return f'<p class="note">No per-frame {html.escape(ylabel)}.</p>'
    t_max = max(1, max(len(c) for _, c in curves) - 1)
    y_max = max(1e-6, max(v for _, c in curves for v in c if v is not None) * 1.1)
    left, top, pw, ph = 52, 12, width - 64, height - 52
    parts = [f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'role="img" aria-label="{html.escape(ylabel)} per frame">']
    _axes(parts, width, height, t_max, y_max, "frame", ylabel, left, top, pw, ph)
    for i, curve in curves:
        pts = " ".join(f"{left + pw * t / t_max:.1f},{top + ph * (1 - v / y_max):.1f}"
                       for t, v in enumerate(curve) if v is not None)
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="2">'
                     f'<title>{html.escape(entries[i].model)}</title></polyline>')
    parts.append("</svg>")
    return "".join(parts)


def _legend(entries: list[Entry]) -> str:
    keys = "".join(f'<span class="key"><span class="dot" style="background:{PALETTE[i % len(PALETTE)]}"></span>'
                   f'{html.escape(e.model)}</span>' for i, e in enumerate(entries))
    return f'<p class="legend">{keys}</p>'


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


def _previews(entries: list[Entry], out: Path, max_samples: int | None) -> str:
    from benchmark.suite import load_suite

    media = out / "media"
    media.mkdir(parents=True, exist_ok=True)
    try:
        suite = load_suite(entries[0].summary["suite"]["path"])
    except (ValueError, OSError):
        return '<p class="note">Suite not found; no sample videos.</p>'
    ids = [s.id for s in suite.samples][:max_samples]
    blocks = []
    for sample in (s for s in suite.samples if s.id in ids):
        figures = []
        for index, entry in enumerate(entries):
            row = next((r for r in entry.rows if r["sample_id"] == sample.id), None)
            if row is None or row.get("status") != "ok":
                reason = "not scored" if row is None else f"failed: {row.get('error')}"
                figures.append(f'<figure class="missing"><figcaption>{html.escape(entry.model)}: '
                               f'{html.escape(str(reason))}</figcaption></figure>')
                continue
            frames = _preview_video(entry, row, sample)
            if frames is None:
                figures.append(f"<figure><figcaption>{html.escape(entry.model)}: video not available</figcaption></figure>")
                continue
            size = (sample.width, sample.height)
            tracked = Trajectories.from_dict(json.loads(row["tracked_trajectories"]), size)
            cond = select_frames(sample.trajectories, sample.num_frames)
            scale = max(1, int(round(256 / max(sample.width, sample.height))))
            name = f"{index:02d}_{sample.id}.gif"
            write_gif(media / name, draw_trajectories(frames, cond, tracked, scale), sample.fps)
            pose = (f" · rot err {row['rotation_error_deg']:.1f}°" if _valid(row.get("rotation_error_deg")) else "")
            figures.append(f'<figure><img src="media/{html.escape(name)}" alt="{html.escape(entry.model)} on '
                           f'{html.escape(sample.id)}"><figcaption>{html.escape(entry.model)} · ObjMC '
                           f'{row["objmc"]:.2f}{pose}</figcaption></figure>')
        sample.release()
        blocks.append(f'<h3>{html.escape(sample.id)} ({html.escape(sample.family)})</h3>'
                      f'<div class="gallery">{"".join(figures)}</div>')
    return "".join(blocks) or '<p class="note">No samples.</p>'


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
td.best { font-weight: bold; background: #e8f5e9; } .ci { color: #666; font-size: 11px; display: block; }
.note { color: #666; font-size: 13px; } .warn { color: #a00; font-weight: bold; } .plots { display: flex; flex-wrap: wrap; gap: 1.5em; }
.key { margin-right: 1em; font-size: 13px; } .dot { display: inline-block; width: 10px; height: 10px;
  border-radius: 5px; margin-right: 4px; }
.gallery { display: flex; flex-wrap: wrap; gap: 1em; } figure { margin: 0; } figcaption { font-size: 12px; }
dl.info { display: grid; grid-template-columns: max-content auto; gap: 2px 12px; font-size: 13px; }
dl.info dt { font-weight: bold; } dl.info dd { margin: 0; }
"""


def _cell(entry: Entry, column: Column, best: dict[str, float]) -> str:
    value = entry.metric(column)
    data = "" if value is None else repr(value)
    is_best = value is not None and value == best.get(column.id)
    if value is None:
        return f'<td data-value="" data-col="{column.id}">–</td>'
    ci, n = entry.interval(column), entry.count(column)
    detail = ""
    if ci is not None or n is not None:
        ci_text = f"[{column.fmt.format(ci[0])}, {column.fmt.format(ci[1])}] " if ci is not None else ""
        detail = f'<span class="ci">{ci_text}n={n if n is not None else "–"}</span>'
    marker = ' class="best"' if is_best else ""
    return f'<td data-value="{data}" data-col="{column.id}"{marker}>{column.fmt.format(value)}{detail}</td>'


def _text_cell(text: str, value: str | None = None) -> str:
    return f'<td data-value="{html.escape(text if value is None else value)}">{html.escape(text)}</td>'


def html_page(entries: list[Entry], out: Path, title: str, max_previews: int | None) -> str:
    columns = columns_of(entries)
    rank, rank_column = ranks(entries)
    best = best_values(entries, columns)
    head = "".join(f'<th data-key="{c.key}" data-group="{c.group}" title="{"higher" if c.key in HIGHER_IS_BETTER else "lower"}'
                   f' is better">{html.escape(c.label)}</th>' for c in columns)
    body = []
    for e, r in zip(entries, rank):
        s = e.summary
        cells = "".join(_cell(e, c, best) for c in columns)
        body.append(f'<tr><td data-value="{html.escape(e.model)}">{html.escape(e.model)}</td>'
                    f'<td data-value="{r if r else ""}" class="rank">{r if r else "–"}</td>'
                    f'<td data-value="{s["num_failed"]}">{s["num_samples"]} ({s["num_failed"]})</td>{cells}'
                    f'{_text_cell(_provenance(e))}{_text_cell(str(s["model"]["identity"].get("adapter")))}</tr>')
    families = sorted({f for e in entries for f in e.summary["metrics"]["by_family"]})
    fam_rows = []
    for e in entries:
        for fam in families:
            agg = e.summary["metrics"]["by_family"].get(fam, {})
            cells = "".join(f'<td data-value="{"" if agg.get(k) is None else repr(float(agg[k]))}">'
                            f'{_fmt(agg.get(k), "{:.2f}")}</td>' for k in FAMILY_COLUMNS)
            fam_rows.append(f'<tr>{_text_cell(e.model)}{_text_cell(fam)}'
                            f'<td data-value="{agg.get("num_samples", 0)}">{agg.get("num_samples", 0)}</td>{cells}</tr>')
    fam_head = "".join(f"<th>{html.escape(FAMILY_LABELS[k])}</th>" for k in FAMILY_COLUMNS)
    info = run_info(entries)
    warning = ('<p class="warn">These results come from different suites or ObjMC query protocols; their numbers '
               'are not comparable.</p>') if len(info["suite"]) > 1 or len(info["ObjMC queries"]) > 1 else ""
    info_html = "".join(f"<dt>{html.escape(k.capitalize())}</dt><dd>{html.escape(', '.join(v))}</dd>"
                        for k, v in info.items())
    failures = [f"{html.escape(e.model)}: {html.escape(f['sample_id'])}: {html.escape(str(f['error']))}"
                for e in entries for f in e.summary.get("failures", [])]
    failure_html = ("<h2>Failed samples</h2><ul>" + "".join(f"<li>{f}</li>" for f in failures) + "</ul>") if failures else ""
    legend = _legend(entries)
    ranked_by = html.escape(rank_column.label) if rank_column else "–"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title><style>{STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<dl class="info" id="run-info">{info_html}</dl>
{warning}
<h2>Leaderboard</h2>
<p class="note">Ranked by {ranked_by}. Each cell: the mean, below it the 95% bootstrap interval over samples and
the number of samples n; the best value of each column is marked. Pose errors are against the 3D ground truth
(a frame whose pose was not recovered counts as 180°, a failed sample as failed in every frame); ObjMC is pooled
over all points and frames as in the DragAnything protocol. Click a column header to sort. Definitions in
docs/benchmark.md.</p>
<table class="sortable" id="leaderboard"><thead><tr><th data-key="model">Model</th><th data-key="rank">Rank</th>
<th data-key="failed">Samples (failed)</th>{head}<th>Tracker</th><th>Adapter</th></tr></thead>
<tbody>{"".join(body)}</tbody></table>
{failure_html}
<h2>Per-family breakdown</h2>
<table class="sortable" id="families"><thead><tr><th>Model</th><th>Family</th><th>Samples</th>{fam_head}</tr></thead>
<tbody>{"".join(fam_rows)}</tbody></table>
<h2>Error against rotation travelled</h2>
{legend}
<div class="plots">{_svg_scatter(entries, "rotation_error_deg", "rotation error vs 3D (°)")}
{_svg_scatter(entries, "objmc", "ObjMC (px)")}</div>
<h2>Error per frame</h2>
{legend}
<div class="plots">{_svg_curves(entries, "error_per_frame", "trajectory error (px)")}
{_svg_curves(entries, "rotation_error_per_frame", "rotation error vs 3D (°)")}</div>
<h2>Sample videos</h2>
<p class="note">Green: the conditioning trajectory. Red: the trajectory the tracker recovered from the video.</p>
{_previews(entries, out, max_previews)}
<script>{SORT_SCRIPT}</script>
</body></html>
"""


def write_leaderboard(results: list[str | Path], out: str | Path, *, title: str = "posetraj benchmark",
                      max_previews: int | None = None) -> dict[str, Path]:
    """Write ``leaderboard.md``, ``index.html`` (+ ``media/``) and ``leaderboard.json`` into ``out``;
    ``max_previews`` limits the samples shown as videos (None: every sample)."""
    entries = [load_results(r) for r in results]
    if not entries:
        raise LeaderboardError("no results given")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / "leaderboard.md", "html": out / "index.html", "json": out / "leaderboard.json"}
    markdown = f"# {title}\n\n" + markdown_table(entries)
    page = html_page(entries, out, title, max_previews)
    for key, text in (("markdown", markdown), ("html", page)):
        write_text_atomic(paths[key], text)
    rank, rank_column = ranks(entries)
    write_json_atomic(paths["json"], {
        "schema_version": LEADERBOARD_SCHEMA_VERSION,
        "ranked_by": rank_column.id if rank_column else None,
        "run_info": run_info(entries),
        "entries": [{"model": e.model, "rank": r, "results": str(e.path), "suite_version": e.summary["suite"]["suite_version"],
                     "tracker": e.summary["tracker"], "adapter": e.summary["model"]["identity"],
                     "code_version": e.summary.get("code_version"), "run_date": e.summary.get("run_date"),
                     "metrics": {c.id: {"value": e.metric(c), "ci95": e.interval(c), "n": e.count(c)} for c in COLUMNS}}
                    for e, r in zip(entries, rank)]})
    return paths
