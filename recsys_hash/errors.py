"""Error types raised at the library's boundaries. Messages name what was wrong and where."""
from __future__ import annotations


class RecsysHashError(Exception):
    """Base class for every error this library raises on purpose."""


class DataFormatError(RecsysHashError, ValueError):
    """A data file is malformed: the message names the file, the line and what was expected."""


class DatasetNotFoundError(RecsysHashError, FileNotFoundError):
    """A dataset folder or file is missing: the message names the dataset, the path and RECSYS_HASH_DATA."""


class ChecksumError(RecsysHashError, ValueError):
    """A file's sha256 differs from the registry: the message names the file, expected and actual."""


class InvalidIdError(RecsysHashError, ValueError):
    """IDs handed to a remapper are out of the accepted domain (negative, too large, NaN, wrong dtype)."""


class NotFittedError(RecsysHashError, RuntimeError):
    """A remapper was used before `fit`."""


class ArtifactError(RecsysHashError, ValueError):
    """A saved artifact is corrupted, truncated, of another kind or of an unsupported version."""


class MissingDependencyError(RecsysHashError, ImportError):
    """An optional package a feature needs is not installed: the message names the package and the pip extra."""


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT/SIGTERM stopped a training run after a completed step; the message says where and which checkpoint
    (if any) holds every completed step. A KeyboardInterrupt, not a RecsysHashError: nothing went wrong, the run
    was asked to stop (the CLI exits with 130)."""

    def __init__(self, message: str, signal_name: str = "", checkpoint: str | None = None, epoch: int = 0,
                 step: int = 0) -> None:
        super().__init__(message)
        self.signal_name, self.checkpoint, self.epoch, self.step = signal_name, checkpoint, epoch, step
