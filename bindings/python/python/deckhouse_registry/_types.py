"""Result types: frozen dataclasses built from the core's wire shapes.

Secrets (passwords, license keys, the read-only user's password) are held in :class:`Secret`,
whose ``repr``/``str`` print ``<redacted>``; rendered file contents, which can hold
credentials, are left out of ``repr``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from collections.abc import Mapping
from typing import Any, TypeVar

from . import _wire as shapes

__all__ = [
    "Secret",
    "Problem",
    "Reason",
    "Credentials",
    "Upstream",
    "Settings",
    "NodeFacts",
    "ClusterFacts",
    "Plan",
    "RenderedFile",
    "Rendered",
    "ApplyReport",
    "PreflightFinding",
    "UnreadableFile",
    "PreflightReport",
    "CleanupPlan",
    "PutOutcome",
    "BlobStat",
    "TagEntry",
    "GcReport",
    "ImportReport",
    "ExportReport",
    "LayoutReport",
    "SkippedEntry",
    "TagMove",
    "BundleReport",
    "BundleExportReport",
    "CorruptBlobInfo",
    "ForeignFile",
    "ScrubReport",
    "Progress",
]

REDACTED = "<redacted>"

_T = TypeVar("_T")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _make(cls: type[_T], **values: Any) -> _T:
    """An instance set up by the library. It bypasses ``__init__``, which the results that carry
    the library's own copy of their data (:class:`Settings`, :class:`ClusterFacts`,
    :class:`Rendered`) refuse, so that ``dataclasses.replace()`` on them fails loudly."""
    obj = cls.__new__(cls)
    for name, value in values.items():
        object.__setattr__(obj, name, value)
    return obj


# Field metadata: ``{"wire": KEY}`` reads a field from ``KEY`` instead of its camelCase name;
# ``_DERIVED`` marks a field that is not in the type's wire shape (the library sets it from
# elsewhere, e.g. the settings view).
_DERIVED = {"wire": None}


def _wire_key(f: dataclasses.Field[Any]) -> str | None:
    key: str | None = f.metadata.get("wire", _camel(f.name))
    return key


def _wire_keys(cls: type) -> frozenset[str]:
    """The wire keys :func:`_build` reads for ``cls`` (what the schema test compares)."""
    return frozenset(
        k for f in dataclasses.fields(cls) if f.init and (k := _wire_key(f)) is not None
    )


def _build(cls: type[_T], wire: Mapping[str, Any], **override: Any) -> _T:
    """Builds a dataclass from a camelCase dict: lists become tuples, absent keys None.
    ``override`` gives the value of fields that need converting or come from elsewhere."""
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in override:
            kwargs[f.name] = override[f.name]
            continue
        key = _wire_key(f)
        if not f.init or key is None:
            continue
        value = wire.get(key)
        kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return _make(cls, **kwargs)


def _refuse_edits(cls: str, again: str) -> None:
    raise TypeError(
        f"{cls} objects are made by the library and cannot be created or edited (dataclasses.replace): "
        f"the library acts on the document it read, not on these fields. Change the input and call {again} again."
    )


class Secret:
    """A secret string. ``repr`` and ``str`` print ``<redacted>``; :meth:`reveal` gives the value."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value itself; call it only where the value is really needed."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({REDACTED!r})"

    def __str__(self) -> str:
        return REDACTED

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the settings."""

    path: str
    """Dotted JSON path of the field, e.g. ``spec.settings.registry.direct.password``."""
    code: str
    """The stable kind of the problem, e.g. ``TtlTooShort``."""
    message: str
    """What is wrong, for people (never contains secret values)."""

    @classmethod
    def _from_wire(cls, wire: Mapping[str, Any]) -> Problem:
        return _build(cls, wire)


@dataclass(frozen=True)
class Reason:
    """One reason a switch is refused."""

    code: str
    """The stable kind of the reason, e.g. ``TransitionNotSupported``."""
    message: str
    """What blocks the switch and what to do."""

    @classmethod
    def _from_wire(cls, wire: Mapping[str, Any]) -> Reason:
        return _build(cls, wire)


@dataclass(frozen=True)
class Credentials:
    """Upstream credentials: ``username`` + ``password``, or a Deckhouse ``license`` key."""

    username: str | None = None
    password: Secret | None = None
    license: Secret | None = None


@dataclass(frozen=True)
class Upstream:
    """The external registry a mode pulls from."""

    host: str
    port: int | None
    path: str
    """Repository path: empty or starting with ``/``, never ending with ``/``."""
    scheme: shapes.Scheme
    """``HTTP`` or ``HTTPS``."""
    ca: str | None = field(repr=False)
    """The CA bundle (PEM) the registry's certificate is checked against, if not system roots."""
    credentials: Credentials | None
    check_mode: shapes.CheckMode
    """``Default`` or ``Relax``."""
    images_repo: str = field(metadata=_DERIVED)
    """The normalised ``host[:port]/path``."""
    address: str = field(metadata=_DERIVED)
    """The registry's ``host[:port]``, as containerd and docker configs name it."""


def _secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)


def _upstream(wire: shapes.Upstream | None, view: shapes.SettingsView) -> Upstream | None:
    if wire is None:
        return None
    c = wire.get("credentials")
    creds = None
    if c is not None:
        creds = _build(
            Credentials,
            c,
            password=_secret(c["password"]) if "password" in c else None,
            license=_secret(c["license"]) if "license" in c else None,
        )
    return _build(
        Upstream,
        wire,
        credentials=creds,
        images_repo=view["imagesRepo"] or "",
        address=view["upstreamAddress"] or "",
    )


@dataclass(frozen=True)
class Settings:
    """Validated, normalised registry settings (see :func:`load_settings`)."""

    mode: shapes.Mode
    """``Direct``, ``Proxy``, ``Local``, ``Unmanaged`` or ``UnmanagedLegacy``."""
    upstream: Upstream | None
    """The upstream registry, if the mode has one."""
    ttl: str | None
    """Proxy mode's cache TTL (e.g. ``72h0m0s``)."""
    images_base: str | None = field(metadata=_DERIVED)
    """Where platform image references point (None for legacy settings naming no registry)."""
    _wire: shapes.RegistrySettings = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _refuse_edits("Settings", "load_settings()")

    @classmethod
    def _from_view(cls, view: shapes.SettingsView) -> Settings:
        wire = view["settings"]
        return _build(
            cls,
            wire,
            upstream=_upstream(wire.get("upstream"), view),
            images_base=view["imagesBase"],
            _wire=wire,
        )

    def to_dict(self) -> dict[str, Any]:
        """The settings in the core's JSON shape. It holds secrets in clear text."""
        copy: dict[str, Any] = _deepcopy(self._wire)
        return copy


def _deepcopy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _deepcopy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_deepcopy(x) for x in v]
    return v


@dataclass(frozen=True)
class NodeFacts:
    """One node of the cluster."""

    name: str
    role: shapes.NodeRole
    """``master`` or ``worker``."""
    ip: str | None
    cri: shapes.Cri
    """``Containerd``, ``ContainerdV2``, ``Docker`` or ``NotManaged``."""
    custom_registry_config: bool


@dataclass(frozen=True)
class ClusterFacts:
    """What the switch rules and the renderer need to know about the cluster
    (see :func:`load_facts`)."""

    cluster_type: shapes.ClusterType
    """``Static`` or ``Cloud``."""
    bootstrapped: bool
    managed_kubernetes: bool
    nodes: tuple[NodeFacts, ...]
    module_ca: str | None = field(repr=False, metadata={"wire": "moduleCA"})
    """The module's CA (PEM), needed to render Proxy and Local."""
    read_only_user: str | None
    """The name of the module's read-only registry user (its password is kept, not shown)."""
    _wire: shapes.ClusterFacts = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _refuse_edits("ClusterFacts", "load_facts()")

    @classmethod
    def _from_native(cls, wire: shapes.ClusterFacts) -> ClusterFacts:
        ro = wire.get("readOnlyUser")
        return _build(
            cls,
            wire,
            nodes=tuple(_build(NodeFacts, n) for n in wire["nodes"]),
            read_only_user=ro["name"] if ro else None,
            _wire=wire,
        )


@dataclass(frozen=True)
class Plan:
    """An allowed switch."""

    from_mode: shapes.Mode = field(metadata={"wire": "from"})
    to_mode: shapes.Mode = field(metadata={"wire": "to"})
    stages: tuple[str, ...]
    """The orchestrator conditions the switch goes through, in order (empty: nothing changes)."""
    restarts: tuple[str, ...]
    """What restarts: ``Deckhouse``, ``AllPlatformComponents``, ``ContainerdV1``."""
    warnings: tuple[str, ...]

    @classmethod
    def _from_wire(cls, wire: shapes.Decision) -> Plan:
        return _build(cls, wire)


@dataclass(frozen=True)
class RenderedFile:
    """One file for a node. ``contents`` is not shown in ``repr`` (it can hold credentials)."""

    path: str
    """Absolute path on the node."""
    contents: str = field(repr=False)
    mode: int
    """Permission bits, e.g. ``0o600`` for files holding credentials."""


@dataclass(frozen=True)
class Rendered:
    """Everything a node needs (see :func:`render`)."""

    version: str
    """A hex sha256 over the model and the render options."""
    model_version: str = field(metadata=_DERIVED)
    """A hex sha256 over the node configuration model alone (the Go side computes the same)."""
    config_path: str
    files: tuple[RenderedFile, ...]
    host_dirs: tuple[str, ...]
    warnings: tuple[str, ...]
    _wire: shapes.Rendered = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _refuse_edits("Rendered", "render()")

    @classmethod
    def _from_native(cls, wire: shapes.Rendered, model_version: str) -> Rendered:
        files = tuple(_build(RenderedFile, f, mode=int(f["mode"], 8)) for f in wire["files"])
        return _build(cls, wire, files=files, model_version=model_version, _wire=wire)

    def file(self, path: str) -> RenderedFile:
        """The file at a node path; KeyError if it was not rendered."""
        for f in self.files:
            if f.path == path:
                return f
        raise KeyError(path)


@dataclass(frozen=True)
class ApplyReport:
    """What applying rendered files did."""

    changed: tuple[str, ...]
    """Node paths written because they were new or different."""
    removed: tuple[str, ...]
    """Node paths removed (stale host folders, stale CA files)."""
    restart_containerd: bool
    """Whether containerd must restart (its config.toml part changed)."""
    warnings: tuple[str, ...] = ()
    """What was left alone: state file entries that are not ``host[:port]`` folder names, a
    state file that cannot be read."""


@dataclass(frozen=True)
class PreflightFinding:
    """A registry section found in a containerd drop-in file."""

    file: str
    line: int
    key: str


@dataclass(frozen=True)
class UnreadableFile:
    """A drop-in file that could not be read or parsed."""

    file: str
    message: str


@dataclass(frozen=True)
class PreflightReport:
    """The result of a preflight scan of a node's ``/etc/containerd``."""

    findings: tuple[PreflightFinding, ...]
    unreadable: tuple[UnreadableFile, ...]
    has_custom_registry_config: bool
    """Whether the node has registry sections (or files that could hide some)."""


@dataclass(frozen=True)
class CleanupPlan:
    """Which host folders to remove."""

    remove: tuple[str, ...]
    """Folders the module wrote before and does not write now."""
    ignored: tuple[str, ...]
    """Names in the old list that are not plain folder names (never removed)."""


@dataclass(frozen=True)
class PutOutcome:
    """The outcome of storing a blob."""

    digest: str
    size: int
    created: bool
    """False when the blob was already stored."""


@dataclass(frozen=True)
class BlobStat:
    """A stored blob's metadata."""

    digest: str
    size: int
    last_used_ms: int
    created_ms: int


@dataclass(frozen=True)
class TagEntry:
    """A tag in ``index.json``."""

    name: str
    digest: str
    size: int
    media_type: str
    repository: str | None = None
    """The repository the tag is in (None for the root repository)."""


@dataclass(frozen=True)
class GcReport:
    """What a garbage collection did (or would do, on a dry run)."""

    dry_run: bool
    examined: int
    reachable: int
    young: int
    deleted: tuple[str, ...]
    deleted_bytes: int
    missing: tuple[str, ...]
    forgotten: tuple[str, ...] = ()
    """Plain untagged ``index.json`` entries removed because their manifest was collected."""


@dataclass(frozen=True)
class ImportReport:
    """What an import did."""

    blobs_added: int
    blobs_present: int
    bytes_added: int
    tags: tuple[str, ...]
    untagged: int
    ignored: tuple[str, ...]


@dataclass(frozen=True)
class ExportReport:
    """What an export wrote."""

    tags: tuple[str, ...]
    blobs: int
    bytes: int


@dataclass(frozen=True)
class LayoutReport:
    """What one layout of an imported bundle held."""

    source: str
    """The tar it was in (``""`` for an unpacked tree)."""
    path: str
    """Its folder inside the tar (``""`` for the root layout)."""
    repository: str
    """The repository it went to (``""`` for the root repository)."""
    images: int
    tags: tuple[str, ...]
    """Tags set, as references (``install:v1.69.0``; just the tag in the root), sorted."""
    untagged: tuple[str, ...]
    """Manifests kept untagged in the repository, sorted."""
    blobs: int
    bytes: int
    missing: tuple[str, ...]
    """Blobs neither the bundle nor the store holds (only with ``require_complete=False``)."""


@dataclass(frozen=True)
class SkippedEntry:
    """A bundle entry that was not imported, and why."""

    path: str
    reason: str


@dataclass(frozen=True)
class TagMove:
    """A tag an import moved (only with ``overwrite_tags=True``)."""

    reference: str
    from_digest: str = field(metadata={"wire": "from"})
    to_digest: str = field(metadata={"wire": "to"})


@dataclass(frozen=True)
class BundleReport:
    """What a bundle import did (see :meth:`Store.import_bundle`)."""

    layouts: tuple[LayoutReport, ...]
    blobs_added: int
    blobs_present: int
    bytes_added: int
    skipped: tuple[SkippedEntry, ...]
    moved: tuple[TagMove, ...]

    @classmethod
    def _from_wire(cls, wire: shapes.BundleReport) -> BundleReport:
        return _build(
            cls,
            wire,
            layouts=tuple(_build(LayoutReport, layout) for layout in wire["layouts"]),
            skipped=tuple(_build(SkippedEntry, s) for s in wire["skipped"]),
            moved=tuple(_build(TagMove, m) for m in wire["moved"]),
        )


@dataclass(frozen=True)
class BundleExportReport:
    """What a bundle export wrote (see :meth:`Store.export_bundle`)."""

    files: tuple[str, ...]
    """Tars written (layout folders with ``unpacked=True``), sorted."""
    layouts: tuple[str, ...]
    """Layout folders written (``""`` for the root layout), sorted."""
    images: int
    blobs: int
    bytes: int
    linked: int
    """Blob files hard-linked instead of copied (``unpacked=True`` only)."""


@dataclass(frozen=True)
class CorruptBlobInfo:
    """A blob whose content does not match its name."""

    digest: str
    actual: str | None
    reason: str
    quarantined_to: str | None


@dataclass(frozen=True)
class ForeignFile:
    """A file under ``blobs/`` that is not a blob."""

    path: str
    reason: str
    quarantined_to: str | None


@dataclass(frozen=True)
class ScrubReport:
    """The result of re-hashing every blob (see :meth:`Store.scrub`)."""

    checked: int
    bytes: int
    corrupt: tuple[CorruptBlobInfo, ...]
    foreign: tuple[ForeignFile, ...]
    layout_problems: tuple[str, ...]
    clean: bool
    """True if nothing is wrong."""

    @classmethod
    def _from_wire(cls, wire: shapes.ScrubView) -> ScrubReport:
        return _build(
            cls,
            wire,
            corrupt=tuple(_build(CorruptBlobInfo, c) for c in wire["corrupt"]),
            foreign=tuple(_build(ForeignFile, f) for f in wire["foreign"]),
        )


@dataclass(frozen=True)
class Progress:
    """A progress event of a long store operation. Totals are None when unknown."""

    operation: shapes.Operation
    """``import``, ``export``, ``scrub``, ``gc`` or ``sync``."""
    bytes_done: int
    bytes_total: int | None
    items_done: int
    items_total: int | None
    current: str | None
