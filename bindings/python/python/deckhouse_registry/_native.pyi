# Hand-written stub of the native module (src/*.rs), checked by `python -m mypy.stubtest`.
# Values cross in the Rust core's serde wire shapes: the camelCase TypedDicts of _wire.py
# (checked against registry-core/wire-schema.json); the typed API is in
# _api.py / _types.py. Errors are raised as the classes of _errors.py.
import builtins
from collections.abc import Callable, Mapping
from typing import final

from ._wire import (
    ApplyReport,
    BlobStat,
    BundleExportOptions,
    BundleExportReport,
    BundleOptions,
    BundleReport,
    CleanupPlan,
    ClusterFacts,
    Decision,
    ExportReport,
    ExportRequest,
    GcOptions,
    GcReport,
    ImportOptions,
    ImportReport,
    PreflightView,
    Progress,
    PutOutcome,
    ReconcileOptions,
    RegistrySettings,
    Rendered,
    RenderOptions,
    ScrubOptions,
    ScrubView,
    SettingsView,
    StoreOptions,
    TagEntry,
)

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
    "reconcile",
    "Store",
    "BlobWriter",
]

__version__: str

_Progress = Callable[[Progress], bool | None]

def load_settings(data: bytes, bootstrap: bool = False) -> SettingsView:
    """Raises DocumentError, ValidationError."""

def load_facts(data: bytes) -> ClusterFacts:
    """Raises DocumentError, FactsError."""

def plan(current: RegistrySettings, desired: RegistrySettings, facts: ClusterFacts | None = None) -> Decision:
    """Raises TransitionRefused."""

def render(
    desired: RegistrySettings,
    previous: RegistrySettings | None = None,
    facts: ClusterFacts | None = None,
    options: RenderOptions | None = None,
) -> tuple[Rendered, str]:
    """Raises TransitionRefused, RenderError; ValueError for options the core does not read."""

def apply(rendered: Rendered, root: str) -> ApplyReport:
    """Raises ApplyError."""

def preflight(etc_containerd: str) -> PreflightView: ...
def stale_host_dirs(previous: list[str], current: list[str]) -> CleanupPlan: ...
def merge_config(main: str, part: str) -> str:
    """Raises DocumentError."""

def reconcile(
    state: Mapping[str, object] | None,
    inputs: Mapping[str, object],
    options: ReconcileOptions | None = None,
) -> dict[str, object]:
    """One orchestrator step: the State and Inputs in their wire shapes with secrets as plain
    ``str``, returning the Step likewise (``_api.reconcile`` wraps the secrets in ``Secret``,
    giving the ``_wire.Step`` shape). Raises ValueError naming the field, RenderError, PkiError."""

@final
class Store:
    """Raises StoreError subclasses (BlobNotFound, DigestMismatch, InvalidDigest, …)."""

    def __new__(cls, root: str, options: StoreOptions | None = None) -> Store: ...
    @property
    def root(self) -> str: ...
    def put_bytes(self, data: bytes, expected: str | None = None) -> PutOutcome: ...
    def put_path(self, path: str, expected: str | None = None) -> PutOutcome: ...
    def writer(self, algorithm: str = "sha256") -> BlobWriter: ...
    def get(self, digest: str) -> bytes: ...
    def read_range(self, digest: str, offset: int, length: int) -> bytes: ...
    def stat(self, digest: str) -> BlobStat: ...
    def has(self, digest: str) -> bool: ...
    def delete(self, digest: str) -> None: ...
    def list(self) -> builtins.list[str]: ...
    def tag(self, tag: str, digest: str) -> None: ...
    def untag(self, tag: str) -> None: ...
    def resolve(self, tag: str) -> str: ...
    def tags(self) -> builtins.list[TagEntry]: ...
    def scrub(self, options: ScrubOptions | None = None, progress: _Progress | None = None) -> ScrubView: ...
    def gc(self, options: GcOptions | None = None, progress: _Progress | None = None) -> GcReport: ...
    def import_path(
        self, path: str, options: ImportOptions | None = None, progress: _Progress | None = None
    ) -> ImportReport: ...
    def export(
        self, dest: str, request: ExportRequest | None = None, progress: _Progress | None = None
    ) -> ExportReport: ...
    def import_bundle(
        self, path: str, options: BundleOptions | None = None, progress: _Progress | None = None
    ) -> BundleReport: ...
    def import_bundle_stream(
        self,
        stream: object,
        name: str = "",
        options: BundleOptions | None = None,
        progress: _Progress | None = None,
    ) -> BundleReport:
        """``stream`` has ``readinto(b)`` or ``read(n)`` (else TypeError); its exceptions propagate."""
    def export_bundle(self, dest: str, options: BundleExportOptions | None = None) -> BundleExportReport: ...
    def pin(self, digest: str) -> None: ...
    def unpin(self, digest: str) -> None: ...
    def forget(self, repository: str, digest: str, referrers: bool = False) -> int: ...

@final
class BlobWriter:
    def write(self, data: bytes) -> int: ...
    @property
    def written(self) -> int: ...
    @property
    def closed(self) -> bool: ...
    def commit(self, expected: str | None = None, expected_size: int | None = None) -> PutOutcome: ...
    def abort(self) -> None: ...
