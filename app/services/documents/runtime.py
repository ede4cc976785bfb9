"""The documents package's collaborators (file store, renderer, signer), configured once per app."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from app.services.documents.render import Renderer
from app.services.documents.signing import PlatformSigner, ensure_demo_certificate
from app.services.documents.store import FileStore, LocalFileStore
from config import Settings
from config.settings import ROOT

REPORTS_DIR = ROOT / "reports"


@dataclass
class Runtime:
    """The store, renderer and signer in use; the signer (and a demo certificate when no
    key is configured) is loaded on first use, not at start-up."""

    store: FileStore
    public_url: str
    renderer: Renderer
    signing_dir: Path
    signing_key: Path | None = None
    signing_cert: Path | None = None
    signing_password: str | None = None
    _signer: PlatformSigner | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def signer(self) -> PlatformSigner:
        with self._lock:
            if self._signer is None:
                key, cert = self.signing_key, self.signing_cert
                if key is None or cert is None:
                    key, cert = ensure_demo_certificate(self.signing_dir)
                self._signer = PlatformSigner(key, cert, self.signing_password)
            return self._signer

    def verify_url(self, code: str) -> str:
        return f"{self.public_url}/documents/verify?code={code}"


_current: Runtime | None = None


def configure(settings: Settings, *, store: FileStore | None = None, reports_dir: Path | None = None) -> Runtime:
    """Set up the documents package from settings (called when the app is created)."""
    global _current
    _current = Runtime(
        store=store or LocalFileStore(settings.files_dir or settings.instance_path / "files"),
        public_url=settings.public_url or f"http://{settings.host}:{settings.port}",
        renderer=Renderer(reports_dir or REPORTS_DIR),
        signing_dir=settings.instance_path / "signing",
        signing_key=settings.signing_key, signing_cert=settings.signing_cert,
        signing_password=settings.signing_key_password,
    )
    return _current


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("app.services.documents.configure() was not called")
    return _current
