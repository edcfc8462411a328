"""Render clips in a child process that the parent can stop: a wall-clock timeout per clip and prompt
SIGINT/SIGTERM handling, although Blender renders in C where no Python signal handler runs.

The child (``python -m render.clip_process``) imports Blender once and renders one clip per request read
from its stdin (a JSON line), answering with a JSON line. It leads its own process group, ignores SIGINT
and dies with its parent. The parent only waits on the answer pipe, so a signal reaches it at once: it
then stops the child's group (SIGTERM, SIGKILL after a grace period), removes the child's work folders
and re-raises. A clip past its timeout, or a child that dies (a crash, the OOM killer), is recorded as a
failure (``timeout`` / ``render_failed``) with the tail of Blender's log, and the next clip gets a new child;
a child ended by SIGTERM from outside (a scheduler signalling every process of a job) stops the run like a
SIGTERM to the parent (:class:`render.process_control.Interrupted`).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from render.errors import RenderError
from render.failures import record_failure
from render.fitting import FitPolicy
from render.process_control import Interrupted, describe_exit, die_with_parent, stop_process_group
from render.spec import ClipSpec
from render.workdirs import log_of, remove_owned

STARTUP_TIMEOUT_S = 300.0  # importing Blender; generous for a loaded node and a cold file system
STOP_GRACE_S = 2.0
_POLL_S = 0.5  # the longest the parent sits in one select(): asynchronous exceptions (Ray's cancel) land


@dataclass(frozen=True)
class ClipResult:
    """How one render request ended: ``rendered`` (published by this process), ``exists`` (another
    process published the clip first; its copy is kept) or ``failed`` (``error`` says why)."""

    status: str
    path: Path | None = None
    error: RenderError | None = None


class _ChildGone(Exception):
    def __init__(self, message: str, returncode: int | None = None):
        super().__init__(message)
        self.returncode = returncode


class ClipProcess:
    """One render child, started on first use and restarted after a timeout or a crash. Use as a
    context manager (or call :meth:`close`) so the child never outlives its parent's work."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._buffer = b""

    def __enter__(self) -> ClipProcess:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def render(self, spec: ClipSpec, out_root: Path, *, timeout_s: float, overwrite: bool = False,
               fit: FitPolicy | None = None) -> ClipResult:
        """Render ``spec`` into ``out_root`` in the child, stopping it after ``timeout_s`` seconds; ``fit`` is
        :func:`render.pipeline.render_clip`'s (None here: exactly as given).

        Any exception here (KeyboardInterrupt, :class:`render.process_control.Interrupted`) stops the
        child and removes its work folders before it propagates; the clip is then simply not rendered.
        """
        out_root = Path(out_root)
        try:
            self._start()
            self._send({"spec": spec.to_dict(), "out_root": str(out_root), "overwrite": overwrite,
                        "fit": None if fit is None else asdict(fit)})
            reply = self._receive(time.monotonic() + timeout_s)
        except _ChildGone as gone:
            if gone.returncode == -signal.SIGTERM:  # stopped from outside (SLURM signals every process of a job)
                self._stop(out_root)
                raise Interrupted(signal.SIGTERM) from None
            return self._failed(spec, out_root, RenderError("render_failed", f"the render process {gone}"))
        except BaseException:
            self._stop(out_root)
            raise
        if reply is None:
            return self._failed(spec, out_root, RenderError(
                "timeout", f"still rendering after {timeout_s:g} s (--clip-timeout); stopped"))
        if reply["status"] == "failed":
            return ClipResult("failed", error=RenderError(reply["code"], reply["message"]))
        return ClipResult(reply["status"], Path(reply["path"]))

    def close(self) -> None:
        """Stop the child, if one runs (it exits by itself when its stdin closes)."""
        if self._process is not None:
            try:
                self._process.stdin.close()
                self._process.wait(timeout=STOP_GRACE_S)
            except (OSError, subprocess.TimeoutExpired):
                stop_process_group(self._process, grace_s=STOP_GRACE_S)
            self._process.stdout.close()
            self._process = None

    def _failed(self, spec: ClipSpec, out_root: Path, error: RenderError) -> ClipResult:
        """Stop the child and keep the failure record, with the log of the clip's abandoned work folder."""
        pid = self._halt()
        if pid is not None:
            record_failure(out_root, spec.clip_id, spec.asset, error, log_of(out_root, spec.clip_id, pid))
            remove_owned(out_root, pid)
        return ClipResult("failed", error=error)

    def _stop(self, out_root: Path) -> None:
        pid = self._halt()
        if pid is not None:
            remove_owned(out_root, pid)

    def _halt(self) -> int | None:
        """Stop the child's process group; its pid, or None when none ran."""
        if self._process is None:
            return None
        process, self._process = self._process, None
        stop_process_group(process, grace_s=STOP_GRACE_S)
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        return process.pid

    def _start(self) -> None:
        if self._process is not None and self._process.poll() is None:
            return
        self._process = None
        self._buffer = b""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "render.clip_process", "--parent-pid", str(os.getpid())],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, start_new_session=True,
        )
        ready = self._receive(time.monotonic() + STARTUP_TIMEOUT_S)
        if ready is None or not ready.get("ready"):
            raise _ChildGone(f"did not start within {STARTUP_TIMEOUT_S:g} s")

    def _send(self, message: dict) -> None:
        try:
            self._process.stdin.write((json.dumps(message) + "\n").encode())
            self._process.stdin.flush()
        except (BrokenPipeError, OSError):
            code = self._process.wait()
            raise _ChildGone(describe_exit(code), code) from None

    def _receive(self, deadline: float) -> dict | None:
        """The child's next JSON line, or None at ``deadline``; :class:`_ChildGone` when it exits."""
        fd = self._process.stdout.fileno()
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([fd], [], [], min(remaining, _POLL_S))
            if readable:
                chunk = os.read(fd, 65536)
                if not chunk:
                    code = self._process.wait()
                    raise _ChildGone(describe_exit(code), code)
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)


def _serve(parent_pid: int) -> None:
    """The child's loop: one clip per request line on stdin, one answer line on the original stdout."""
    die_with_parent(parent_pid, signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop, for the whole group
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed (Blender's C code included) goes to the worker's log

    from common.clip_format import is_complete_clip
    from render.pipeline import render_clip

    try:
        import render.blender.clip_stage  # noqa: F401  (import Blender once, before the first clip's clock)
    except ImportError:
        pass  # render_clip reports blender_missing for each clip
    answers.write(json.dumps({"ready": True}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        spec = ClipSpec.from_dict(request["spec"])
        out_root = Path(request["out_root"])
        fit = None if request.get("fit") is None else FitPolicy(**request["fit"])
        answers.write(json.dumps(_render_one(spec, out_root, request["overwrite"], fit, is_complete_clip,
                                             render_clip)) + "\n")


def _render_one(spec: ClipSpec, out_root: Path, overwrite: bool, fit: FitPolicy | None, is_complete_clip,
                render_clip) -> dict:
    final = out_root / spec.clip_id
    if is_complete_clip(final) and not overwrite:
        return {"status": "exists", "path": str(final)}
    try:
        return {"status": "rendered",
                "path": str(render_clip(spec, out_root, overwrite=overwrite, strict=True, fit=fit))}
    except FileExistsError:
        return {"status": "exists", "path": str(final)}
    except RenderError as exc:  # render_clip has recorded it
        return {"status": "failed", "code": exc.code, "message": exc.message}
    except Exception as exc:  # a bug or an unforeseen error of one clip: record it, keep serving
        import traceback

        traceback.print_exc()
        error = RenderError("render_failed", f"{type(exc).__name__}: {exc}".splitlines()[0][:300])
        record_failure(out_root, spec.clip_id, spec.asset, error)
        return {"status": "failed", "code": error.code, "message": error.message}


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="render clips requested on stdin (started by render.clip_process)")
    parser.add_argument("--parent-pid", type=int, required=True)
    _serve(parser.parse_args().parent_pid)
