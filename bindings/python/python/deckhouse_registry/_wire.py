"""The core's wire shapes as the native module takes and returns them: camelCase TypedDicts.

Each TypedDict here mirrors the ``$defs`` entry of the same name in
``registry-core/wire-schema.json`` (the JSON Schema the core generates from its serde types);
``tests/test_wire_schema.py`` checks their keys against it, so a renamed core field fails the
Python suite (which finds them by kind: every TypedDict and ``Literal`` alias of this module).
Enums are ``Literal`` types with the core's strings. The typed, frozen result
classes users see are in :mod:`deckhouse_registry._types`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypeAlias, TypedDict

if TYPE_CHECKING:  # typing.NotRequired is 3.11+; annotations here are never evaluated
    from typing_extensions import NotRequired

Durability: TypeAlias = Literal["durable", "relaxed"]
ContainerdMajor: TypeAlias = Literal["v1", "v2"]
Dialect: TypeAlias = Literal["deckhouse", "upstream"]
SwitchCheck: TypeAlias = Literal["enforce", "skip"]
Mode: TypeAlias = Literal["Direct", "Proxy", "Local", "Unmanaged", "UnmanagedLegacy"]
Scheme: TypeAlias = Literal["HTTP", "HTTPS"]
CheckMode: TypeAlias = Literal["Default", "Relax"]
ClusterType: TypeAlias = Literal["Static", "Cloud"]
NodeRole: TypeAlias = Literal["master", "worker"]
Cri: TypeAlias = Literal["Containerd", "ContainerdV2", "Docker", "NotManaged"]
Operation: TypeAlias = Literal["import", "export", "scrub", "gc", "sync"]
ErrorCode: TypeAlias = Literal[
    "Ok",
    "InvalidArgument",
    "Panic",
    "Cancelled",
    "InvalidState",
    "InvalidDocument",
    "InvalidSettings",
    "InvalidFacts",
    "RenderMissingInput",
    "RenderInvalidOptions",
    "RenderRefused",
    "TransitionRefused",
    "ApplyRefused",
    "Io",
    "NotFound",
    "AlreadyExists",
    "DigestMismatch",
    "InvalidDigest",
    "InvalidTag",
    "QuotaExceeded",
    "NoSpace",
    "Corrupt",
    "InvalidLayout",
    "InvalidManifest",
    "ImportRefused",
    "InvalidUpload",
    "Locked",
    "InvalidRepository",
    "PkiFailed",
]

# -- options (requests) ------------------------------------------------------------------------


class StoreOptions(TypedDict, total=False):
    durability: Durability
    quota: int | None
    gcGraceSeconds: int
    uploadTtlSeconds: int
    trackUse: bool


class RenderOptions(TypedDict, total=False):
    containerd: ContainerdMajor
    version: str | None
    dialect: Dialect
    httpTlsFallback: bool
    configPath: str
    switchCheck: SwitchCheck


class GcOptions(TypedDict, total=False):
    dryRun: bool
    graceSeconds: int | None


class ScrubOptions(TypedDict, total=False):
    quarantine: bool
    threads: int | None


class ImportOptions(TypedDict, total=False):
    requireComplete: bool


class ExportRequest(TypedDict, total=False):
    tags: list[str]
    tar: bool
    gzip: bool
    overwrite: bool


class BundleOptions(TypedDict, total=False):
    requireComplete: bool
    overwriteTags: bool
    maxExpansionRatio: int
    maxExpandedBytes: int
    maxManifestBytes: int


class BundleExportOptions(TypedDict, total=False):
    repositories: list[str]
    tags: list[str]
    referrers: bool
    unpacked: bool


# -- settings and facts ------------------------------------------------------------------------


class Credentials(TypedDict, total=False):
    username: str
    password: str
    license: str


class Upstream(TypedDict):
    host: str
    port: NotRequired[int | None]
    path: str
    scheme: Scheme
    checkMode: CheckMode
    ca: NotRequired[str | None]
    credentials: NotRequired[Credentials | None]


class RegistrySettings(TypedDict):
    """One of the modes (a tagged union on ``mode``); ``upstream`` and ``ttl`` per mode."""

    mode: Mode
    upstream: NotRequired[Upstream | None]
    ttl: NotRequired[str]


class SettingsView(TypedDict):
    settings: RegistrySettings
    imagesBase: str | None
    imagesRepo: str | None
    upstreamAddress: str | None


class ReadOnlyUser(TypedDict):
    name: str
    password: str


class NodeFacts(TypedDict):
    name: str
    role: NotRequired[NodeRole]
    ip: NotRequired[str | None]
    cri: NotRequired[Cri]
    customRegistryConfig: NotRequired[bool]


ClusterFacts = TypedDict(
    "ClusterFacts",
    {
        "clusterType": ClusterType,
        "bootstrapped": bool,
        "managedKubernetes": bool,
        "nodes": list[NodeFacts],
        "moduleCA": "NotRequired[str | None]",
        "readOnlyUser": "NotRequired[ReadOnlyUser | None]",
    },
)

# -- switch planning and node configuration ----------------------------------------------------


class Reason(TypedDict):
    code: str
    message: str


class Problem(TypedDict):
    path: str
    code: str
    message: str


Decision = TypedDict(
    "Decision",
    {
        "allowed": bool,
        "from": "NotRequired[Mode | None]",
        "to": "NotRequired[Mode | None]",
        "stages": "NotRequired[list[str]]",
        "restarts": "NotRequired[list[str]]",
        "warnings": "NotRequired[list[str]]",
        "reasons": "NotRequired[list[Reason] | None]",
        "route": "NotRequired[list[Mode] | None]",
    },
)


class RenderedFile(TypedDict):
    path: str
    contents: str
    mode: str
    """Four octal digits (``0644``)."""


class Rendered(TypedDict):
    version: str
    configPath: str
    files: list[RenderedFile]
    hostDirs: list[str]
    warnings: list[str]


class ApplyReport(TypedDict):
    changed: list[str]
    removed: list[str]
    restartContainerd: bool
    warnings: NotRequired[list[str]]


class PreflightFinding(TypedDict):
    file: str
    line: int
    key: str


class UnreadableFile(TypedDict):
    file: str
    message: str


class PreflightView(TypedDict):
    findings: list[PreflightFinding]
    unreadable: list[UnreadableFile]
    hasCustomRegistryConfig: bool


class CleanupPlan(TypedDict):
    remove: list[str]
    ignored: list[str]


# -- the store ---------------------------------------------------------------------------------


class PutOutcome(TypedDict):
    digest: str
    size: int
    created: bool


class BlobStat(TypedDict):
    digest: str
    size: int
    lastUsedMs: int
    createdMs: int


class TagEntry(TypedDict):
    name: str
    digest: str
    size: int
    mediaType: str
    repository: NotRequired[str]


class GcReport(TypedDict):
    dryRun: bool
    examined: int
    reachable: int
    young: int
    deleted: list[str]
    deletedBytes: int
    missing: list[str]
    forgotten: NotRequired[list[str]]


class ImportReport(TypedDict):
    blobsAdded: int
    blobsPresent: int
    bytesAdded: int
    tags: list[str]
    untagged: int
    ignored: list[str]


class ExportReport(TypedDict):
    tags: list[str]
    blobs: int
    bytes: int


class LayoutReport(TypedDict):
    source: str
    path: str
    repository: str
    images: int
    tags: list[str]
    untagged: list[str]
    blobs: int
    bytes: int
    missing: list[str]


class SkippedEntry(TypedDict):
    path: str
    reason: str


# "from" is a Python keyword: the functional form.
TagMove = TypedDict("TagMove", {"reference": str, "from": str, "to": str})


class BundleReport(TypedDict):
    layouts: list[LayoutReport]
    blobsAdded: int
    blobsPresent: int
    bytesAdded: int
    skipped: list[SkippedEntry]
    moved: list[TagMove]


class BundleExportReport(TypedDict):
    files: list[str]
    layouts: list[str]
    images: int
    blobs: int
    bytes: int
    linked: int


class CorruptBlob(TypedDict):
    digest: str
    reason: str
    actual: NotRequired[str | None]
    quarantinedTo: NotRequired[str | None]


class ForeignFile(TypedDict):
    path: str
    reason: str
    quarantinedTo: NotRequired[str | None]


class ScrubView(TypedDict):
    checked: int
    bytes: int
    corrupt: list[CorruptBlob]
    foreign: list[ForeignFile]
    layoutProblems: list[str]
    clean: bool


class Progress(TypedDict):
    operation: Operation
    bytesDone: int
    itemsDone: int
    bytesTotal: NotRequired[int | None]
    itemsTotal: NotRequired[int | None]
    current: NotRequired[str | None]


# -- errors ------------------------------------------------------------------------------------


Detail = TypedDict(
    "Detail",
    {
        "kind": Literal["problems", "field", "refusal", "digestMismatch"],
        "problems": "NotRequired[list[Problem]]",
        "path": "NotRequired[str]",
        "from": "NotRequired[Mode | None]",
        "to": "NotRequired[Mode | None]",
        "reasons": "NotRequired[list[Reason]]",
        "route": "NotRequired[list[Mode]]",
        "expected": "NotRequired[str]",
        "actual": "NotRequired[str]",
        "expectedSize": "NotRequired[int | None]",
        "actualSize": "NotRequired[int]",
    },
)
"""One of the detail kinds (a tagged union on ``kind``), with that kind's keys."""


class Failure(TypedDict):
    code: ErrorCode
    message: str
    detail: NotRequired[Detail | None]
