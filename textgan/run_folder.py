"""A run folder that never traps its user: who may write it (an exclusive lock), and what a new start
or `--resume` does with what is already there.

- A folder whose run never reached a checkpoint (stopped by Ctrl-C, a crash or a late error before
  its first save) holds nothing worth keeping: a plain start, or `--resume`, starts it over and says so.
- A folder with a checkpoint is continued only with `--resume`, never overwritten.
- One writer at a time: `flock` on `RUN/.lock`, held for the run's life. The kernel drops the lock
  when its process ends, however it ends, so a lock left by a killed run is never in the way; the
  file names the holder (pid, host, start time, command) for the error a second writer gets.
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import IO

from textgan.errors import UserError

LOCK_FILE = ".lock"
RUN_FILES = ("metrics.jsonl", "config.yaml", "summary.json", "curves.png", "report.html")
RUN_FOLDERS = ("samples", "tensorboard", "checkpoints")
OWN_FILES = ("metrics.jsonl", "config.yaml", "summary.json", "vocab.json", "tokenizer.json", LOCK_FILE)


def refuse_run_file(path: str | Path, option: str = "--out") -> None:
    """A `UserError` when `path` is one of a run folder's own files (its records, recipe, vocabulary) or
    lies in its checkpoints/: a command's output must never replace what the run needs to load."""
    path = Path(path).resolve()
    folder = path.parent
    in_run = (folder / "metrics.jsonl").exists() or (folder / "checkpoints").is_dir()
    if ((in_run and path.name in OWN_FILES)
            or (folder.name == "checkpoints" and (folder.parent / "config.yaml").exists())):
        raise UserError(f"{option} {path} would overwrite a file of the run in {folder}: choose another path")


def last_checkpoint(out: Path) -> Path:
    return out / "checkpoints" / "last.pt"


def open_run(out: Path, resume: bool) -> tuple[RunLock, bool]:
    """Create or check the run folder and lock it; returns the held lock and whether the run continues
    from its checkpoint. Raises `UserError` when the folder cannot be written, another process holds
    it, or it holds a run with a checkpoint and `resume` is not asked for."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write to output folder {out}: {exc.strerror}") from None
    lock = RunLock(out)
    lock.acquire()
    try:
        has_checkpoint = last_checkpoint(out).is_file()
        started = any((out / name).exists() for name in RUN_FILES + RUN_FOLDERS)
        if not resume and has_checkpoint:
            raise UserError(f"{out} already holds a run; pass --resume to continue it, or choose "
                            "another --out")
        if started and not has_checkpoint:
            print(f"note: {out} holds a run that stopped before its first checkpoint: starting it over",
                  file=sys.stderr)
            clear(out)
        elif resume and not has_checkpoint:
            print(f"note: --resume: {out} holds no run yet: starting a new one", file=sys.stderr)
    except BaseException:
        lock.release()
        raise
    return lock, resume and has_checkpoint


def remove_if_unwritten(out: Path, lock: RunLock) -> None:
    """Remove a folder this run created when it holds nothing but its lock (the run was refused
    before writing anything)."""
    if {p.name for p in out.iterdir()} == {LOCK_FILE}:
        lock.release()
        lock.path.unlink()
        out.rmdir()


def clear(out: Path) -> None:
    """Remove what a run writes (never other files the user keeps in the folder)."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for name in RUN_FOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)


class RunLock:
    """An exclusive, non-blocking lock on a run folder for as long as the object is held open."""

    def __init__(self, out: Path) -> None:
        self.path = out / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not a POSIX system: no lock
            return
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the run's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise UserError(f"{self.path.parent} is in use by {holder}: wait for it to finish, or choose "
                            "another --out") from None
        handle.seek(0)
        handle.truncate()
        started = datetime.datetime.now().isoformat(timespec="seconds")
        handle.write(f"textgan pid {os.getpid()} on {socket.gethostname()} since {started} "
                     f"({' '.join(sys.argv[1:])})\n")
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the flock; the file stays, naming the last holder
            self._file = None
