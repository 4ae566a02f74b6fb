"""The public functions and the Store, over the native module (a thin translation layer)."""

from __future__ import annotations

import builtins
import json
import os
from datetime import datetime, timezone
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, Protocol, TypeAlias, TypeVar

from . import _native
from . import _wire as shapes
from ._errors import InvalidDigest
from ._types import (
    ApplyReport,
    BlobStat,
    BundleExportReport,
    BundleReport,
    CleanupPlan,
    ClusterFacts,
    ExportReport,
    GcReport,
    ImportReport,
    Plan,
    PreflightFinding,
    PreflightReport,
    Progress,
    PutOutcome,
    Rendered,
    ScrubReport,
    Secret,
    Settings,
    TagEntry,
    UnreadableFile,
    _build,
)

__all__ = [
    "Source",
    "ProgressCallback",
    "BinaryStream",
    "load_settings",
    "parse_settings",
    "load_facts",
    "parse_facts",
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

Source: TypeAlias = str | os.PathLike[str] | bytes | bytearray | Mapping[str, Any]
"""A YAML/JSON document: a file path (``str`` or ``os.PathLike``), the document's raw ``bytes``,
or a mapping. Document text in a ``str`` goes to :func:`parse_settings` / :func:`parse_facts`."""

ProgressCallback: TypeAlias = Callable[[Progress], bool | None]
"""Called with each progress event; returning ``False`` cancels (the call then raises
:class:`Cancelled`), raising an exception cancels and propagates that exception."""


class _Reads(Protocol):
    def read(self, size: int, /) -> bytes: ...


class _ReadsInto(Protocol):
    def readinto(self, buffer: bytearray, /) -> int | None: ...


BinaryStream: TypeAlias = _Reads | _ReadsInto
"""A binary stream :meth:`Store.import_bundle_stream` reads: anything with ``readinto(b)`` (used
when present: files, sockets' ``makefile("rb", buffering=0)``, ``io.BytesIO``) or ``read(n)``
returning ``bytes``. Short reads are fine; an empty read is the end of the stream."""

_CHUNK = 1 << 20


def _read_source(source: Source, function: str) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return path.read_bytes()
        except FileNotFoundError as e:
            # A str is a path, as for open(); say how text is passed, since that is the likely
            # mistake when the "path" looks like a document.
            hint = f"{function}() takes a str as a file path; pass document text to parse_{function[5:]}() or as bytes"
            raise FileNotFoundError(e.errno, f"no such file ({hint})", os.fspath(source)) from None
    if isinstance(source, Mapping):
        return json.dumps(source).encode()
    raise TypeError(
        f"{function}(): expected a path (str or os.PathLike), bytes or a mapping, not {type(source).__name__}"
    )


def _text(text: str | bytes, function: str) -> bytes:
    if isinstance(text, str):
        return text.encode()
    if isinstance(text, (bytes, bytearray)):
        return bytes(text)
    raise TypeError(f"{function}(): expected the document's text (str or bytes), not {type(text).__name__}")


_R = TypeVar("_R")


def _result(value: object, cls: type[_R], parameter: str, made_by: str) -> _R:
    """``value`` if it is a ``cls`` the library made; else a TypeError naming the parameter."""
    if not isinstance(value, cls):
        raise TypeError(f"{parameter} must be a {cls.__name__} from {made_by}(), not {type(value).__name__}")
    return value


def _seconds(parameter: str, value: int) -> int:
    """A duration in whole seconds (``int``), refused with its name otherwise."""
    _uint(parameter, value)
    return value


def _uint(parameter: str, value: int | None, bits: int = 64) -> int | None:
    """An unsigned integer argument, refused with its name when out of range."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{parameter} must be an int, not {type(value).__name__}")
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{parameter} must be between 0 and 2**{bits} - 1, not {value}")
    return value


def load_settings(source: Source, *, bootstrap: bool = False) -> Settings:
    """Reads and validates registry settings: a ModuleConfig ``deckhouse``, an InitConfiguration
    or a multi-document stream holding them. A ``str`` or ``os.PathLike`` is a file path (as for
    ``open``); ``bytes`` are the document itself; a mapping is the parsed document. For text in a
    ``str``, use :func:`parse_settings`.

    With ``bootstrap=True`` the bootstrap rules apply (only Direct and the Unmanaged forms).

    Raises :class:`DocumentError` for unusable input, :class:`ValidationError` with every
    problem when the settings break the rules, and ``FileNotFoundError`` for a missing file.
    """
    return _settings(_read_source(source, "load_settings"), bootstrap)


def parse_settings(text: str | bytes, *, bootstrap: bool = False) -> Settings:
    """:func:`load_settings` for the document's text."""
    return _settings(_text(text, "parse_settings"), bootstrap)


def _settings(data: bytes, bootstrap: bool) -> Settings:
    return Settings._from_view(_native.load_settings(data, bootstrap))


def load_facts(source: Source) -> ClusterFacts:
    """Reads cluster facts (one YAML/JSON document; every key optional) from a file path
    (``str`` or ``os.PathLike``), ``bytes`` or a mapping; text in a ``str`` goes to
    :func:`parse_facts`.

    Raises :class:`DocumentError` or :class:`FactsError` naming the wrong field.
    """
    return ClusterFacts._from_native(_native.load_facts(_read_source(source, "load_facts")))


def parse_facts(text: str | bytes) -> ClusterFacts:
    """:func:`load_facts` for the document's text."""
    return ClusterFacts._from_native(_native.load_facts(_text(text, "parse_facts")))


def _facts(facts: ClusterFacts | None) -> shapes.ClusterFacts | None:
    if facts is None:
        return None
    return _result(facts, ClusterFacts, "facts", "load_facts")._wire


def _settings_wire(settings: Settings, parameter: str) -> shapes.RegistrySettings:
    return _result(settings, Settings, parameter, "load_settings")._wire


def plan(current: Settings, desired: Settings, facts: ClusterFacts | None = None) -> Plan:
    """Plans a switch from ``current`` to ``desired`` settings; ``facts`` defaults to a
    bootstrapped static cluster with one containerd master.

    Raises :class:`TransitionRefused` with the reasons and the shortest legal route.
    """
    return Plan._from_wire(
        _native.plan(_settings_wire(current, "current"), _settings_wire(desired, "desired"), _facts(facts))
    )


def render(
    desired: Settings,
    previous: Settings | None = None,
    facts: ClusterFacts | None = None,
    *,
    containerd: shapes.ContainerdMajor = "v1",
    version: str | None = None,
    dialect: shapes.Dialect = "deckhouse",
    http_tls_fallback: bool = False,
    config_path: str | None = None,
    switch_check: shapes.SwitchCheck = "enforce",
) -> Rendered:
    """Builds a node's containerd configuration and renders its files.

    ``previous`` selects the transition phase (old and new mirrors); the switch from it must
    be allowed (:func:`plan`), else :class:`TransitionRefused` is raised, unless
    ``switch_check="skip"``. ``containerd`` is ``v1`` or ``v2``; ``version`` a release line
    such as ``1.7`` or ``2.2`` (default: the generation's default); ``dialect`` is
    ``deckhouse`` or ``upstream``.

    Raises :class:`RenderError`, :class:`TransitionRefused`; ``ValueError`` for an option
    value the core does not accept.
    """
    prev = None if previous is None else _settings_wire(previous, "previous")
    options: shapes.RenderOptions = {
        "containerd": containerd,
        "version": version,
        "dialect": dialect,
        "httpTlsFallback": http_tls_fallback,
        "switchCheck": switch_check,
    }
    if config_path is not None:
        options["configPath"] = config_path
    wire, model_version = _native.render(_settings_wire(desired, "desired"), prev, _facts(facts), options)
    return Rendered._from_native(wire, model_version)


def apply(rendered: Rendered, root: str | os.PathLike[str]) -> ApplyReport:
    """Writes rendered files under ``root`` (node paths become ``root/etc/…``) atomically,
    only those that changed, then removes the host folders the previous apply wrote and this
    one does not. Releases the GIL. Raises :class:`ApplyError`, before anything is written, for
    a set with a path the renderer does not write, a bad host folder name, or a symbolic link on
    the way under ``root``.
    """
    wire = _result(rendered, Rendered, "rendered", "render")._wire
    return _build(ApplyReport, _native.apply(wire, os.fspath(root)))


def merge_config(main: str, part: str) -> str:
    """The rendered config.toml part (``deckhouse.d/registry.toml``) merged into a node's main
    config.toml, as containerd 1.x needs it (1.x loads an ``imports`` file by replacing each
    plugin table it names). The part's keys win; every other key of ``main``, and its comments
    and order, stay. Raises :class:`DocumentError` for a file that is not TOML or two files with
    different ``version``\ s. On containerd 2.x, ``imports`` merge by themselves.
    """
    return _native.merge_config(main, part)


def preflight(etc_containerd: str | os.PathLike[str]) -> PreflightReport:
    """Scans a copy of a node's ``/etc/containerd`` for registry sections in
    ``conf.d/*.toml`` and ``conf2.d/*.toml``. A missing or unreadable folder (or an empty path)
    raises :class:`ApplyError`, as ``registryctl preflight`` exits 2 for it."""
    wire = _native.preflight(os.fspath(etc_containerd))
    return _build(
        PreflightReport,
        wire,
        findings=tuple(_build(PreflightFinding, f) for f in wire["findings"]),
        unreadable=tuple(_build(UnreadableFile, u) for u in wire["unreadable"]),
    )


def stale_host_dirs(previous: Iterable[str], current: Iterable[str]) -> CleanupPlan:
    """The host folders to remove: listed in the previous state, not written now. Names that
    are not plain folder names are ignored, never removed."""
    return _build(CleanupPlan, _native.stale_host_dirs(list(previous), list(current)))


def _progress(cb: ProgressCallback | None) -> Callable[[shapes.Progress], bool | None] | None:
    if cb is None:
        return None

    def call(wire: shapes.Progress) -> bool | None:
        return cb(_build(Progress, wire))

    return call


# -- the orchestrator --------------------------------------------------------------------------

SECRET_KEYS = frozenset(
    {"password", "password_hash", "key", "http", ".dockerconfigjson", "license", "contents", "state"}
)
"""The keys whose string values are secrets in the orchestrator's shapes (``tests/test_wire_schema.py``
checks them against the schema: exactly the properties typed ``Secret``, and no string property
that is not one; the step's ``state`` object is not a string)."""


def _hide(value: object, key: str = "") -> Any:
    """Wire data with every string under a secret key wrapped in :class:`Secret`."""
    if isinstance(value, dict):
        return {k: _hide(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_hide(v) for v in value]
    if key in SECRET_KEYS and isinstance(value, str):
        return Secret(value)
    return value


def _reveal(value: object) -> Any:
    """Data for the native module: :class:`Secret` values unwrapped, the results of
    :func:`load_settings` / :func:`load_facts` as their wire shapes."""
    if isinstance(value, Secret):
        return value.reveal()
    if isinstance(value, (Settings, ClusterFacts)):
        return value._wire
    if isinstance(value, Mapping):
        return {k: _reveal(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_reveal(v) for v in value]
    return value


def _timestamp(now: datetime | None) -> str | None:
    """``now`` as the core's RFC 3339 UTC timestamp (to the second); naive times are refused."""
    if now is None:
        return None
    if not isinstance(now, datetime):
        raise TypeError(f"now must be a datetime, not {type(now).__name__}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconcile(
    state: shapes.State | None,
    inputs: shapes.Inputs,
    *,
    now: datetime | None = None,
    seed: int | None = None,
) -> shapes.Step:
    """Runs one step of the registry module's orchestrator: from the persisted state (``None``:
    none yet) and what the operator observed, the next state (persist ``step["state"]`` and
    pass it to the next call), its conditions, ``ready`` and the Ready ``message``, and every
    object to write, keep or delete (``{"action": "write", "value": ...}``).

    Secret values in the step are :class:`Secret` (``repr`` shows ``<redacted>``); ``state`` and
    ``inputs`` take them as :class:`Secret` or ``str``. ``inputs["settings"]`` and
    ``inputs["cluster"]`` also take what :func:`load_settings` and :func:`load_facts` return.

    ``now`` (timezone-aware) is the step's time, the system clock by default. ``seed`` is FOR
    DETERMINISTIC TESTS ONLY: it makes every key and password reproducible by anyone who knows
    it; without it (as in production) they come from the operating system's CSPRNG.

    A refused switch is a step with the ``ErrTransitionNotSupported`` condition, not an error.
    Raises ``ValueError`` naming the field for a state or inputs the core does not accept,
    :class:`RenderError` when the node configuration cannot be built, :class:`PkiError`.
    """
    options: shapes.ReconcileOptions = {"now": _timestamp(now), "seed": _uint("seed", seed)}
    step = _native.reconcile(_reveal(state), _reveal(inputs), options)
    hidden: shapes.Step = _hide(step)
    return hidden


class BlobWriter:
    """Streams one blob into the store, hashing while writing.

    As a context manager it commits on a normal exit (the outcome is in :attr:`result`) and
    aborts when the block raises. A blob that is already stored is not an error
    (``created=False``).
    """

    def __init__(self, native: _native.BlobWriter) -> None:
        self._native = native
        self.result: PutOutcome | None = None
        """The outcome of :meth:`commit`, once committed."""

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Appends bytes (the GIL is released while writing); returns their number."""
        return self._native.write(bytes(data))

    @property
    def written(self) -> int:
        """Bytes written so far."""
        return self._native.written

    @property
    def closed(self) -> bool:
        """Whether the writer was committed or aborted."""
        return self._native.closed

    def commit(self, expected: str | None = None, expected_size: int | None = None) -> PutOutcome:
        """Publishes the blob, checking it against ``expected`` digest and size when given.

        Raises :class:`DigestMismatch` (nothing is stored) or another :class:`StoreError`.
        """
        size = _uint("expected_size", expected_size)
        self.result = _build(PutOutcome, self._native.commit(expected, size))
        return self.result

    def abort(self) -> None:
        """Drops what was written; a no-op after commit or abort."""
        self._native.abort()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif not self.closed:
            self.commit()


class Store:
    """A content-addressed blob store rooted at a folder, laid out as an OCI image layout.

    One object may be shared between threads; every disk operation releases the GIL. Digests
    are strings (``sha256:<hex>``, ``sha512:<hex>``).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        durability: shapes.Durability = "durable",
        quota: int | None = None,
        gc_grace_seconds: int = 3600,
        upload_ttl_seconds: int = 604800,
        track_use: bool = True,
    ) -> None:
        """Opens (creating if needed) the store at ``root``, with the core's store options:
        ``durability="relaxed"`` skips fsync (for caches); ``quota`` caps stored bytes;
        ``gc_grace_seconds`` protects young blobs from :meth:`gc`; ``upload_ttl_seconds`` is how
        long an idle resumable upload is kept; ``track_use`` records a blob's last use."""
        options: shapes.StoreOptions = {
            "durability": durability,
            "quota": _uint("quota", quota),
            "gcGraceSeconds": _seconds("gc_grace_seconds", gc_grace_seconds),
            "uploadTtlSeconds": _seconds("upload_ttl_seconds", upload_ttl_seconds),
            "trackUse": track_use,
        }
        self._native = _native.Store(os.fspath(root), options)

    @property
    def root(self) -> Path:
        """The root folder."""
        return Path(self._native.root)

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def put(
        self,
        source: bytes | bytearray | memoryview | os.PathLike[str] | IO[bytes],
        *,
        expected: str | None = None,
    ) -> PutOutcome:
        """Stores a blob from bytes, a file path (``os.PathLike``) or a binary file object
        (read in 1 MiB chunks). With ``expected``, content that does not hash to it raises
        :class:`DigestMismatch` and nothing is stored."""
        if isinstance(source, (bytes, bytearray, memoryview)):
            return _build(PutOutcome, self._native.put_bytes(bytes(source), expected))
        if isinstance(source, os.PathLike):
            return _build(PutOutcome, self._native.put_path(os.fspath(source), expected))
        if isinstance(source, str):
            raise TypeError("a str is ambiguous: pass bytes, a pathlib.Path or a binary file object")
        w = self.writer()
        try:
            while chunk := source.read(_CHUNK):
                w.write(chunk)
        except BaseException:
            w.abort()
            raise
        return w.commit(expected)

    def writer(self, algorithm: str = "sha256") -> BlobWriter:
        """A streaming writer (``sha256`` or ``sha512``), usable as a context manager."""
        return BlobWriter(self._native.writer(algorithm))

    def get(self, digest: str) -> bytes:
        """The blob's content. Raises :class:`BlobNotFound`."""
        return self._native.get(digest)

    def read_range(self, digest: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``offset`` (clamped to the blob's end)."""
        return self._native.read_range(digest, _uint("offset", offset) or 0, _uint("length", length) or 0)

    def stat(self, digest: str) -> BlobStat:
        """The blob's size and times. Raises :class:`BlobNotFound`."""
        return _build(BlobStat, self._native.stat(digest))

    def has(self, digest: str) -> bool:
        """Whether the blob is stored."""
        return self._native.has(digest)

    def __contains__(self, digest: object) -> bool:
        """``digest in store``; False for anything that is not a valid digest string."""
        if not isinstance(digest, str):
            return False
        try:
            return self.has(digest)
        except InvalidDigest:
            return False

    def delete(self, digest: str) -> None:
        """Removes a blob. Raises :class:`BlobNotFound`."""
        self._native.delete(digest)

    def list(self) -> builtins.list[str]:
        """Every stored blob's digest, sorted."""
        return self._native.list()

    def tag(self, name: str, digest: str) -> None:
        """Points a tag in ``index.json`` at a stored manifest or index."""
        self._native.tag(name, digest)

    def untag(self, name: str) -> None:
        """Removes a tag. Raises :class:`BlobNotFound` for an unknown tag."""
        self._native.untag(name)

    def resolve(self, name: str) -> str:
        """The digest a tag points at."""
        return self._native.resolve(name)

    def tags(self) -> builtins.list[TagEntry]:
        """Every tag."""
        return [_build(TagEntry, t) for t in self._native.tags()]

    def scrub(
        self,
        *,
        quarantine: bool = True,
        threads: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> ScrubReport:
        """Re-hashes every blob (on ``threads`` threads; default every core); corrupt and
        foreign files go to quarantine unless ``quarantine=False``."""
        options: shapes.ScrubOptions = {"quarantine": quarantine, "threads": _uint("threads", threads)}
        return ScrubReport._from_wire(self._native.scrub(options, _progress(progress)))

    def gc(
        self,
        *,
        grace_seconds: int | None = None,
        dry_run: bool = False,
        progress: ProgressCallback | None = None,
    ) -> GcReport:
        """Deletes blobs not reachable from tags, leases or the grace period (``grace_seconds``;
        default the store's ``gc_grace_seconds``)."""
        options: shapes.GcOptions = {
            "dryRun": dry_run,
            "graceSeconds": None if grace_seconds is None else _seconds("grace_seconds", grace_seconds),
        }
        return _build(GcReport, self._native.gc(options, _progress(progress)))

    def import_path(
        self,
        path: str | os.PathLike[str],
        *,
        require_complete: bool = True,
        progress: ProgressCallback | None = None,
    ) -> ImportReport:
        """Imports an OCI image layout from a folder, a tar or a tar.gz. Raises
        :class:`ImportRefused` (the store is unchanged)."""
        wire = self._native.import_path(os.fspath(path), {"requireComplete": require_complete}, _progress(progress))
        return _build(ImportReport, wire)

    def export(
        self,
        dest: str | os.PathLike[str],
        *,
        tags: Iterable[str] | None = None,
        tar: bool = False,
        gzip: bool = False,
        overwrite: bool = False,
        progress: ProgressCallback | None = None,
    ) -> ExportReport:
        """Exports tags (default: all) as an OCI image layout into a new or empty folder, or
        with ``tar=True`` into a tar file (``gzip=True`` compresses it), written beside ``dest``
        and moved into place, so ``dest`` is never half-written. An existing tar file is refused
        (:class:`BlobExists`) unless ``overwrite=True``; ``gzip`` without ``tar`` raises
        :class:`InvalidArgument`."""
        request: shapes.ExportRequest = {
            "tags": [] if tags is None else list(tags),
            "tar": tar,
            "gzip": gzip,
            "overwrite": overwrite,
        }
        return _build(ExportReport, self._native.export(os.fspath(dest), request, _progress(progress)))

    # -- bundles and untagged manifests

    def import_bundle(
        self,
        path: str | os.PathLike[str],
        *,
        require_complete: bool = True,
        overwrite_tags: bool = False,
        max_expansion_ratio: int | None = None,
        max_expanded_bytes: int | None = None,
        max_manifest_bytes: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> BundleReport:
        """Imports a ``d8 mirror pull`` bundle: a folder of tars (``platform.tar``,
        ``module-<name>.tar``, ...), one tar or tar.gz, one chunk of a ``<name>.tar.NNNN.chunk``
        set, or a folder holding layouts. Every layout at any depth goes to its repository. All
        layouts or none: a refused import (:class:`ImportRefused`: a blob that does not match its
        digest, a tag that would move without ``overwrite_tags=True``, ...) or a cancelled one
        leaves the store unchanged. The limits left ``None`` take the core's defaults (a gzip
        stream expands at most 100 times and to 1 TiB; 256 MiB of manifests)."""
        options = _bundle_options(
            require_complete, overwrite_tags, max_expansion_ratio, max_expanded_bytes, max_manifest_bytes
        )
        wire = self._native.import_bundle(os.fspath(path), options, _progress(progress))
        return BundleReport._from_wire(wire)

    def import_bundle_stream(
        self,
        stream: BinaryStream,
        name: str = "",
        *,
        require_complete: bool = True,
        overwrite_tags: bool = False,
        max_expansion_ratio: int | None = None,
        max_expanded_bytes: int | None = None,
        max_manifest_bytes: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> BundleReport:
        """Imports one bundle tar (plain or gzip, such as ``platform.tar`` or
        ``module-<name>.tar``) read once, front to back, from a binary stream (see
        :data:`BinaryStream`), up to the end of the tar archive. ``name`` is the tar's file name
        (``module-<name>.tar`` marks a legacy module tar; it names the stream in reports and
        errors) or ``""``. Options, report and atomicity are those of :meth:`import_bundle`: a
        refused, cancelled or failed import leaves the store unchanged.

        The GIL is released while the core works and taken again for each read. An exception
        the stream raises stops the import and propagates as that same exception object (not
        wrapped in a :class:`RegistryError`); a ``read`` returning ``str`` raises
        ``TypeError``."""
        options = _bundle_options(
            require_complete, overwrite_tags, max_expansion_ratio, max_expanded_bytes, max_manifest_bytes
        )
        wire = self._native.import_bundle_stream(stream, name, options, _progress(progress))
        return BundleReport._from_wire(wire)

    def export_bundle(
        self,
        dest: str | os.PathLike[str],
        *,
        repositories: Iterable[str] | None = None,
        tags: Iterable[str] | None = None,
        referrers: bool = False,
        unpacked: bool = False,
    ) -> BundleExportReport:
        """Exports repositories (default: all) and tags (default: all; references
        ``repository:tag``, or ``tag`` in the root) as a bundle ``d8 mirror push`` accepts, into
        the folder ``dest`` (created; an existing one must be empty, :class:`InvalidLayout`
        otherwise). ``referrers=True`` adds the OCI 1.1 referrers of what is exported;
        ``unpacked=True`` writes layout folders instead of tars."""
        options: shapes.BundleExportOptions = {
            "repositories": [] if repositories is None else list(repositories),
            "tags": [] if tags is None else list(tags),
            "referrers": referrers,
            "unpacked": unpacked,
        }
        return _build(BundleExportReport, self._native.export_bundle(os.fspath(dest), options))

    def pin(self, digest: str) -> None:
        """Pins a stored manifest or index in the root repository, so GC keeps it untagged."""
        self._native.pin(digest)

    def unpin(self, digest: str) -> None:
        """Removes the pin of ``digest``'s untagged root entries (:class:`BlobNotFound` if none
        was pinned)."""
        self._native.unpin(digest)

    def forget(self, digest: str, *, repository: str = "", referrers: bool = False) -> int:
        """Removes every ``index.json`` entry (tags too) of ``digest`` in ``repository`` (default
        the root repository) and, with ``referrers=True``, every entry whose manifest names it as
        its OCI 1.1 ``subject``. Returns how many entries went; blobs stay until :meth:`gc`."""
        return self._native.forget(repository, digest, referrers)


def _bundle_options(
    require_complete: bool,
    overwrite_tags: bool,
    max_expansion_ratio: int | None,
    max_expanded_bytes: int | None,
    max_manifest_bytes: int | None,
) -> shapes.BundleOptions:
    """The core's BundleOptions; limits left ``None`` are left out (the core's defaults)."""
    options: shapes.BundleOptions = {"requireComplete": require_complete, "overwriteTags": overwrite_tags}
    if (ratio := _uint("max_expansion_ratio", max_expansion_ratio)) is not None:
        options["maxExpansionRatio"] = ratio
    if (expanded := _uint("max_expanded_bytes", max_expanded_bytes)) is not None:
        options["maxExpandedBytes"] = expanded
    if (manifests := _uint("max_manifest_bytes", max_manifest_bytes)) is not None:
        options["maxManifestBytes"] = manifests
    return options
