"""Result files: atomic writes, provenance, and detection of corrupt files.

Every result file is a JSON object holding the study's payload together with its
``config``, the versions of the packages that produced it, the git commit of the
working tree and a checksum of the payload, so a truncated or edited file is
recognised (:class:`CorruptResultError`) instead of silently reused.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "CorruptResultError",
    "atomic_write_text",
    "config_hash",
    "environment",
    "git_commit",
    "read_result",
    "write_result",
]

# smt: the peers (GENN, kriging) are fitted by it, so its version moves their numbers.
_PACKAGES = ("sobolev-training", "torch", "numpy", "scipy", "sympy", "scikit-learn", "smt")


class CorruptResultError(ValueError):
    """A result file exists but is truncated, unparsable or fails its checksum."""


def _to_builtin(obj: Any) -> Any:
    """JSON fallback: numpy and torch scalars/arrays become Python numbers and lists."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable: {obj!r}")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_to_builtin)


def config_hash(config: dict[str, Any], length: int = 16) -> str:
    """Stable hex digest of a JSON-serialisable config (key order does not matter).

    Raises
    ------
    ValueError
        If ``config`` holds values that JSON cannot represent.
    """
    try:
        text = _canonical(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"config must be JSON-serialisable: {exc}") from exc
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def git_commit(path: str | os.PathLike | None = None) -> str | None:
    """The commit of the git tree holding ``path`` (with ``-dirty`` if modified), or None."""
    cwd = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    """Package versions, Python, platform and git commit, for provenance."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": git_commit(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename.

    Readers never see a half-written file: either the old content or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600 files; result files are meant to be shared and shipped.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_result(
    path: str | os.PathLike,
    payload: dict[str, Any],
    config: dict[str, Any],
    env: dict[str, Any] | None = None,
) -> Path:
    """Atomically write ``payload`` with its ``config`` and provenance as JSON.

    Parameters
    ----------
    path : path-like
        Destination file; parent folders are created.
    payload : dict
        JSON-serialisable results (numbers, lists, strings).
    config : dict
        The configuration that produced them.
    env : dict, optional
        The provenance to record; default: this process's :func:`environment`.
    """
    doc = {
        "config": config,
        "config_hash": config_hash(config),
        "environment": environment() if env is None else env,
        "payload": payload,
        "checksum": hashlib.sha256(_canonical(payload).encode()).hexdigest(),
    }
    text = json.dumps(doc, indent=1, sort_keys=True, default=_to_builtin)
    return atomic_write_text(path, text + "\n")


def read_result(path: str | os.PathLike) -> dict[str, Any]:
    """Read a file written by :func:`write_result` and verify its checksum.

    Returns
    -------
    dict
        With keys ``config``, ``config_hash``, ``environment``, ``payload``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptResultError
        If the file is not valid JSON, lacks a field, or its checksum does not match.
    """
    path = Path(path)
    text = path.read_text()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptResultError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not {"payload", "checksum", "config"} <= doc.keys():
        raise CorruptResultError(f"{path}: missing payload, config or checksum")
    digest = hashlib.sha256(_canonical(doc["payload"]).encode()).hexdigest()
    if digest != doc["checksum"]:
        raise CorruptResultError(f"{path}: checksum mismatch (file edited or truncated)")
    return doc
