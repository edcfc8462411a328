"""Stopping work promptly: SIGINT/SIGTERM as an exception, children that die with their parent, and
stopping a child's whole process group (docs/farm.md, "Interruption").

Blender renders in C, where a Python signal handler cannot run, so the renderer lives in a child process
(:mod:`render.clip_process`) and the parent, which only waits on pipes, reacts to signals at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator

#: The signals that stop a run; a stopped run exits with ``128 + signal number`` (130 and 143).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_PR_SET_PDEATHSIG = 1


class Interrupted(BaseException):
    """The run was asked to stop by ``signum`` (a BaseException, like KeyboardInterrupt, so that no
    ``except Exception`` swallows it)."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """The shell's convention: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + self.signum


class _Guard:
    """The installed handler's state: whether it raised already, and whether raising is deferred."""

    def __init__(self) -> None:
        self.raised = False
        self.deferring = 0
        self.pending: int | None = None

    def handle(self, signum: int, frame) -> None:
        if self.raised:
            return
        if self.deferring:
            self.pending = signum
            return
        self.raised = True
        raise Interrupted(signum)


_guard: _Guard | None = None


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` in the main thread; a second signal
    while the first is being handled (children stopped, work folders removed) is ignored, so the clean-up
    itself is never cut short. The previous handlers come back afterwards."""
    global _guard
    outer, _guard = _guard, _Guard()
    previous = {sig: signal.signal(sig, _guard.handle) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        _guard = outer


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold back :class:`Interrupted` while the block runs, and raise it when the block ends: for calls
    into C extensions that cannot take an exception from a signal handler (Ray's ``wait`` turns it into a
    ``SystemError``). Keep such blocks short (a bounded wait)."""
    guard = _guard
    if guard is None:
        yield
        return
    guard.deferring += 1
    try:
        yield
    finally:
        guard.deferring -= 1
        if not guard.deferring and guard.pending is not None and not guard.raised:
            guard.raised = True
            raise Interrupted(guard.pending)


def die_with_parent(parent_pid: int, signum: int = signal.SIGKILL) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies (``PR_SET_PDEATHSIG``), so a
    killed parent (SIGKILL, OOM killer) never leaves this process running as an orphan. Exits at once
    when the parent is already gone. Elsewhere than Linux this does nothing."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(128 + int(signum))


def stop_process_group(process: subprocess.Popen, *, signum: int = signal.SIGTERM, grace_s: float = 2.0) -> int:
    """Send ``signum`` to the process group that ``process`` leads (it was started with
    ``start_new_session=True``), SIGKILL it after ``grace_s`` seconds, reap it and return its exit status."""
    for sig in (signum, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            return process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            continue
    return process.wait()


def describe_exit(returncode: int) -> str:
    """'killed by SIGKILL', 'exited with status 143 (interrupted by SIGTERM)', ... for a Popen return code."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    if returncode in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        return f"exited with status {returncode} (interrupted by {signal.Signals(returncode - 128).name})"
    return f"exited with status {returncode}"


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
