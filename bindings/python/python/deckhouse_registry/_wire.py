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

    from ._types import ClusterFacts as FactsResult
    from ._types import Secret
    from ._types import Settings as SettingsResult

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
    password: str | Secret
    """``str`` from the native module; :class:`Secret` in an orchestrator step."""
    license: str | Secret


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
    password: str | Secret
    """``str`` from the native module; :class:`Secret` in an orchestrator step."""


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


# -- the orchestrator --------------------------------------------------------------------------
# As :func:`deckhouse_registry.reconcile` takes and returns them: every secret value (keys,
# passwords, hashes, the HTTP secret, ``.dockerconfigjson``, bundle file contents) is a
# :class:`Secret` (the native module carries plain strings; ``_api`` wraps and unwraps them).
# The state keeps the snake_case keys of the real ``registry-state`` secret.

ConditionStatus: TypeAlias = Literal["True", "False"]
ConditionReason: TypeAlias = Literal["Ready", "Processing", "Error"]
ServiceMode: TypeAlias = Literal["Disabled", "InClusterProxy", "NodeServices"]


class ReconcileOptions(TypedDict, total=False):
    now: str | None
    seed: int | None


class Condition(TypedDict):
    type: str
    status: ConditionStatus
    reason: ConditionReason
    message: str
    lastTransitionTime: str
    """RFC 3339 UTC, to the second (``2026-12-01T10:00:00Z``)."""


class CertKey(TypedDict):
    cert: str
    key: Secret


class Pki(TypedDict, total=False):
    ca: CertKey
    token: CertKey


class Secrets(TypedDict, total=False):
    http: Secret


class User(TypedDict):
    name: str
    password: Secret
    password_hash: Secret


class Users(TypedDict, total=False):
    ro: User
    rw: User
    mirror_puller: User
    mirror_pusher: User


class RegistrydUpstream(TypedDict):
    url: str
    ca: NotRequired[str]
    user: NotRequired[str]
    passwordFile: NotRequired[str]
    ttl: NotRequired[str]


class RegistrydConfig(TypedDict):
    root: str
    listen: str
    tlsCert: NotRequired[str]
    tlsKey: NotRequired[str]
    htpasswd: NotRequired[str]
    writers: NotRequired[list[str]]
    namespace: NotRequired[str]
    upstream: NotRequired[RegistrydUpstream]
    peers: NotRequired[list[str]]
    peerUser: NotRequired[str]
    peerPasswordFile: NotRequired[str]
    peerCa: NotRequired[str | None]
    headerTimeoutSeconds: NotRequired[int | None]
    bodyTimeoutSeconds: NotRequired[int | None]
    maxConnections: NotRequired[int | None]
    maxManifestBytes: NotRequired[int | None]


class BundleFile(TypedDict):
    contents: Secret
    mode: str


class RegistrydBundle(TypedDict):
    config: RegistrydConfig
    files: dict[str, BundleFile]


class Versioned_RegistrydBundle(TypedDict):
    version: str
    config: RegistrydBundle


class InClusterProxyState(TypedDict):
    config: Versioned_RegistrydBundle


class NodeServicesState(TypedDict, total=False):
    run: bool
    nodes: dict[str, Versioned_RegistrydBundle]


class MirrorAuth(TypedDict):
    username: str
    password: Secret


Rewrite = TypedDict("Rewrite", {"from": str, "to": str})


class Mirror(TypedDict):
    host: str
    scheme: Scheme
    ca: NotRequired[str]
    auth: NotRequired[MirrorAuth]
    rewrites: NotRequired[list[Rewrite]]


class NodeConfig(TypedDict):
    mode: Mode
    transition: bool
    imagesBase: str
    proxyEndpoints: NotRequired[list[str]]
    hosts: dict[str, list[Mirror]]


class BashibleConfig(TypedDict):
    version: str
    config: NodeConfig


class BashibleState(TypedDict, total=False):
    unmanaged_params: Upstream
    actual_params: RegistrySettings
    config: BashibleConfig


class State(TypedDict, total=False):
    mode: Mode
    target_mode: Mode
    pki: Pki
    secrets: Secrets
    users: Users
    in_cluster_proxy: InClusterProxyState
    node_services: NodeServicesState
    ingress_enabled: bool
    registry_service: ServiceMode
    bashible: BashibleState
    conditions: list[Condition]


class NodeStatus(TypedDict, total=False):
    ready: bool
    registryVersion: str
    containerdConfigRegistry: str


class PodStatus(TypedDict, total=False):
    ready: bool
    configVersion: str


class CheckerStatus(TypedDict):
    version: str
    ready: bool
    message: NotRequired[str]


class LeaderPod(TypedDict, total=False):
    ready: bool
    registryVersion: str


class InitSecret(TypedDict, total=False):
    ca: CertKey
    ro_user: User
    rw_user: User


RegistrySecret = TypedDict(
    "RegistrySecret",
    {
        "address": str,
        "path": str,
        "scheme": str,
        "ca": "NotRequired[str]",
        ".dockerconfigjson": "Secret",
    },
)


class Inputs(TypedDict, total=False):
    """``settings`` and ``cluster`` also take what :func:`load_settings` and :func:`load_facts`
    return."""

    settings: RegistrySettings | SettingsResult
    cluster: ClusterFacts | FactsResult
    nodes: dict[str, NodeStatus]
    bashibleConfigExists: bool
    nodeServicesPods: dict[str, PodStatus]
    inClusterProxy: PodStatus
    checker: CheckerStatus
    deckhouseLeader: LeaderPod
    initSecret: InitSecret
    registrySecret: RegistrySecret
    userSecrets: dict[str, User]


class RegistrySecretOutput(TypedDict):
    secret: RegistrySecret
    hash: str


class CheckerRegistry(TypedDict):
    address: str
    scheme: Scheme
    ca: NotRequired[str]
    username: NotRequired[str]
    password: Secret


class CheckerParams(TypedDict):
    registries: dict[str, CheckerRegistry]
    checkMode: CheckMode
    version: str


class Output_BashibleConfig(TypedDict):
    action: Literal["keep", "write", "delete"]
    value: NotRequired[BashibleConfig]


class Output_RegistrySecretOutput(TypedDict):
    action: Literal["keep", "write", "delete"]
    value: NotRequired[RegistrySecretOutput]


class Output_Map_of_Versioned_RegistrydBundle(TypedDict):
    action: Literal["keep", "write", "delete"]
    value: NotRequired[dict[str, Versioned_RegistrydBundle]]


class Output_Versioned_RegistrydBundle(TypedDict):
    action: Literal["keep", "write", "delete"]
    value: NotRequired[Versioned_RegistrydBundle]


class Output_Pki(TypedDict):
    action: Literal["keep", "write", "delete"]
    value: NotRequired[Pki]


class Output_User(TypedDict):
    action: Literal["keep", "write", "delete"]
    value: NotRequired[User]


class Output_CheckerParams(TypedDict):
    action: Literal["keep", "write", "delete"]
    value: NotRequired[CheckerParams]


class Outputs(TypedDict):
    bashibleConfig: Output_BashibleConfig
    deckhouseRegistry: Output_RegistrySecretOutput
    nodeServices: Output_Map_of_Versioned_RegistrydBundle
    inClusterProxy: Output_Versioned_RegistrydBundle
    pki: Output_Pki
    users: dict[str, Output_User]
    checker: Output_CheckerParams
    registryService: ServiceMode
    ingressEnabled: bool


RegistryStateData = TypedDict(
    "RegistryStateData",
    {"state": "Secret", "hash": str, "conditions": str, "mode": str, "target_mode": str},
)
"""The ``registry-state`` secret's data keys; ``state`` is the whole state as JSON."""


class Step(TypedDict):
    state: State
    ready: bool
    message: str
    outputs: Outputs
    configHash: str
    """sha256 (hex) of the inputs: ``registry-state``'s ``hash`` and the config-hash annotation."""
    registryState: RegistryStateData


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
