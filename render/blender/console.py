"""Send Blender's C-level console output (fd 1 and 2) to a log file instead of the terminal."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path


class _QuietGltfLogs(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def quiet_python_loggers() -> None:
    """Blender's glTF importer logs every step at INFO level through Python logging."""
    for name in ("glTFImporter", "glTFExporter"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _QuietGltfLogs) for f in logger.filters):
            logger.addFilter(_QuietGltfLogs())


@contextlib.contextmanager
def console_to_log(log_path: Path) -> Iterator[None]:
    """Redirect file descriptors 1 and 2 (C and Python writes alike) to ``log_path`` for the block."""
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        # Python-level writes too, even where sys.stdout is not fd 1 (e.g. under a test runner's capture).
        with open(log_path, "a", buffering=1) as python_log, contextlib.redirect_stdout(python_log), \
                contextlib.redirect_stderr(python_log):
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, log_fd):
            os.close(fd)
