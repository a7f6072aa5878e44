"""The tally-signing key on disk: written once with mode 0600, read at close time."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

__all__ = ["KeyFileError", "load_signing_key", "write_new_signing_key"]


class KeyFileError(Exception):
    """A key file that is missing, unreadable, or not what it should be. `reason` is a short code."""

    def __init__(self, path: Path, reason: str, detail: str = "") -> None:
        self.path = path
        self.reason = reason
        self.detail = detail
        super().__init__(f"{path}: {reason} {detail}".strip())


def write_new_signing_key(path: Path, *, force: bool = False) -> Ed25519PrivateKey:
    """Create a new Ed25519 key at `path`, readable by its owner only. Never overwrites unless `force`."""
    from voting.audit import generate_private_key, private_key_pem

    if path.exists() and not force:
        raise KeyFileError(path, "exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_private_key()
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(private_key_pem(key))
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    from voting.audit import load_private_key

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(path, "missing") from None
    except OSError as exc:
        raise KeyFileError(path, "unreadable", exc.strerror or "") from None
    try:
        return load_private_key(data)
    except ValueError as exc:
        raise KeyFileError(path, "invalid", str(exc)) from None
