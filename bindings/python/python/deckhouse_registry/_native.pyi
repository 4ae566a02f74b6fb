# Hand-written stub of the native module (src/*.rs), checked by `python -m mypy.stubtest`.
# Values cross in the Rust core's serde wire shapes (camelCase dicts); the typed API is in
# _api.py / _types.py. Errors are raised as the classes of _errors.py.
import builtins
from collections.abc import Callable
from typing import Any, final

__all__ = [
    "__version__",
    "load_settings",
    "load_facts",
    "plan",
    "render",
    "apply",
    "preflight",
    "stale_host_dirs",
    "merge_config",
    "Store",
    "BlobWriter",
]

__version__: str

_Wire = dict[str, Any]
_Progress = Callable[[_Wire], bool | None]

def load_settings(data: bytes, bootstrap: bool = False) -> tuple[_Wire, str | None, str | None]:
    """Raises DocumentError, ValidationError."""

def load_facts(data: bytes) -> _Wire:
    """Raises DocumentError, FactsError."""

def plan(current: _Wire, desired: _Wire, facts: _Wire | None = None) -> _Wire:
    """Raises TransitionRefused."""

def render(
    desired: _Wire,
    previous: _Wire | None = None,
    facts: _Wire | None = None,
    containerd: str = "v1",
    version: str | None = None,
    dialect: str = "deckhouse",
    http_tls_fallback: bool = False,
    config_path: str | None = None,
) -> tuple[_Wire, str]:
    """Raises RenderError; ValueError for unknown option words."""

def apply(rendered: _Wire, root: str) -> _Wire:
    """Raises ApplyError."""

def preflight(etc_containerd: str) -> _Wire: ...
def stale_host_dirs(previous: list[str], current: list[str]) -> _Wire: ...
def merge_config(main: str, part: str) -> str:
    """Raises DocumentError."""

@final
class Store:
    """Raises StoreError subclasses (BlobNotFound, DigestMismatch, InvalidDigest, …)."""

    def __new__(
        cls,
        root: str,
        *,
        durable: bool = True,
        quota: int | None = None,
        gc_grace: float | None = None,
        track_use: bool = True,
    ) -> Store: ...
    @property
    def root(self) -> str: ...
    def put_bytes(self, data: bytes, expected: str | None = None) -> _Wire: ...
    def put_path(self, path: str, expected: str | None = None) -> _Wire: ...
    def writer(self, algorithm: str = "sha256") -> BlobWriter: ...
    def get(self, digest: str) -> bytes: ...
    def read_range(self, digest: str, offset: int, length: int) -> bytes: ...
    def stat(self, digest: str) -> _Wire: ...
    def has(self, digest: str) -> bool: ...
    def delete(self, digest: str) -> None: ...
    def list(self) -> builtins.list[str]: ...
    def tag(self, tag: str, digest: str) -> None: ...
    def untag(self, tag: str) -> None: ...
    def resolve(self, tag: str) -> str: ...
    def tags(self) -> builtins.list[_Wire]: ...
    def verify(self, *, quarantine: bool = True, progress: _Progress | None = None) -> _Wire: ...
    def gc(
        self, *, grace: float | None = None, dry_run: bool = False, progress: _Progress | None = None
    ) -> _Wire: ...
    def import_path(
        self, path: str, *, require_complete: bool = True, progress: _Progress | None = None
    ) -> _Wire: ...
    def export(
        self,
        dest: str,
        *,
        tags: builtins.list[str] | None = None,
        tar: bool = False,
        gzip: bool = False,
        progress: _Progress | None = None,
    ) -> _Wire: ...

@final
class BlobWriter:
    def write(self, data: bytes) -> int: ...
    @property
    def written(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def commit(self, expected: str | None = None, expected_size: int | None = None) -> _Wire: ...
    def abort(self) -> None: ...
