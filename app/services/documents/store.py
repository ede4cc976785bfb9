"""The file store: content-addressed bytes behind a small interface (a local folder now)."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from app.services.documents.errors import DocumentError

_KEY = re.compile(r"^[0-9a-f]{64}$")
_VARIANT = re.compile(r"^[a-z0-9][a-z0-9.-]{0,40}$")


class FileStore(Protocol):
    """Immutable blobs addressed by the SHA-256 of their content, plus derived variants
    (e.g. a page-1 preview) cached beside a blob."""

    def put(self, data: bytes) -> str:
        """Store ``data``; return its key (lower-case hex SHA-256). Storing twice is a no-op."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes under ``key``. Raises DocumentError when there are none."""
        ...

    def exists(self, key: str) -> bool: ...

    def get_variant(self, key: str, name: str) -> bytes | None: ...

    def put_variant(self, key: str, name: str, data: bytes) -> None: ...


def content_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check(key: str, name: str | None = None) -> None:
    if not _KEY.match(key) or (name is not None and not _VARIANT.match(name)):
        raise DocumentError(f"not a file store key: {key!r}")


class LocalFileStore:
    """Blobs under ``<root>/sha256/<first two hex digits>/<key>``.

    Each file is written to a temporary name in the same folder, synced, then renamed, so a
    reader never sees a half-written file, and two writers of the same content both succeed.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str, name: str | None = None) -> Path:
        _check(key, name)
        return self.root / "sha256" / key[:2] / (f"{key}.{name}" if name else key)

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o640)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def put(self, data: bytes) -> str:
        key = content_key(data)
        path = self._path(key)
        if not path.exists():
            self._write(path, data)
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise DocumentError(f"stored file {key} is missing") from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def get_variant(self, key: str, name: str) -> bytes | None:
        path = self._path(key, name)
        return path.read_bytes() if path.is_file() else None

    def put_variant(self, key: str, name: str, data: bytes) -> None:
        self._write(self._path(key, name), data)


class MemoryFileStore:
    """The same interface in a dict: a test double and a scratch store for benchmarks."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        key = content_key(data)
        self.blobs.setdefault(key, data)
        return key

    def get(self, key: str) -> bytes:
        _check(key)
        if key not in self.blobs:
            raise DocumentError(f"stored file {key} is missing")
        return self.blobs[key]

    def exists(self, key: str) -> bool:
        return key in self.blobs

    def get_variant(self, key: str, name: str) -> bytes | None:
        _check(key, name)
        return self.blobs.get(f"{key}.{name}")

    def put_variant(self, key: str, name: str, data: bytes) -> None:
        _check(key, name)
        self.blobs[f"{key}.{name}"] = data
