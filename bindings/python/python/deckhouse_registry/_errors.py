"""The exception hierarchy of deckhouse_registry.

Every error the library raises derives from :class:`RegistryError`. The native layer picks the
class per error kind of the Rust core and passes its structured fields as keyword arguments.
Messages never contain secret values (passwords, license keys).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._types import Problem, Reason
from ._wire import Failure

__all__ = [
    "RegistryError",
    "InvalidArgument",
    "DocumentError",
    "ValidationError",
    "FactsError",
    "TransitionRefused",
    "RenderError",
    "ApplyError",
    "StoreError",
    "BlobNotFound",
    "BlobExists",
    "DigestMismatch",
    "InvalidDigest",
    "InvalidTag",
    "InvalidRepository",
    "QuotaExceeded",
    "NoSpace",
    "CorruptBlob",
    "InvalidLayout",
    "InvalidManifest",
    "ImportRefused",
    "InvalidUpload",
    "Locked",
    "Cancelled",
    "PkiError",
]


class RegistryError(Exception):
    """Base class of every error raised by deckhouse_registry.

    ``failure`` is the core's error in its wire shape (``code``, ``message``, ``detail``), when
    the core reported one (an OS error while applying files has none)."""

    message: str
    failure: Failure | None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.failure = None


class InvalidArgument(RegistryError, ValueError):
    """An argument or request that does not fit its schema. ``code`` is ``InvalidArgument``."""

    code: str

    def __init__(self, message: str, code: str = "InvalidArgument") -> None:
        super().__init__(message)
        self.code = code


class DocumentError(RegistryError, ValueError):
    """The input is unusable: unreadable, not YAML/JSON, or not a ModuleConfig `deckhouse`
    or InitConfiguration (or cluster facts that are not one YAML/JSON document)."""


class ValidationError(RegistryError, ValueError):
    """The settings were read and break the rules; ``problems`` lists every one of them."""

    problems: list[Problem]

    def __init__(self, message: str, problems: Sequence[dict[str, Any] | Problem] = ()) -> None:
        super().__init__(message)
        self.problems = [p if isinstance(p, Problem) else Problem._from_wire(p) for p in problems]

    @property
    def codes(self) -> list[str]:
        """The stable codes of the problems, in order."""
        return [p.code for p in self.problems]


class FactsError(RegistryError, ValueError):
    """A cluster facts field is wrong; ``path`` names it (e.g. ``nodes[1].name``)."""

    path: str

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class TransitionRefused(RegistryError):
    """A switch between two settings is refused.

    ``reasons`` carry stable codes (``TransitionNotSupported``, ``ClusterNotStatic``, …);
    ``route`` is the shortest sequence of modes, from the current to the desired one, whose
    every step is allowed now (empty when there is none). ``from_mode``/``to_mode`` are None
    when that side's settings were invalid.
    """

    reasons: list[Reason]
    route: list[str]
    from_mode: str | None
    to_mode: str | None

    def __init__(
        self,
        message: str,
        reasons: Sequence[dict[str, Any] | Reason] = (),
        route: Sequence[str] = (),
        from_mode: str | None = None,
        to_mode: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reasons = [r if isinstance(r, Reason) else Reason._from_wire(r) for r in reasons]
        self.route = list(route)
        self.from_mode = from_mode
        self.to_mode = to_mode

    @property
    def codes(self) -> list[str]:
        """The stable codes of the reasons, in order."""
        return [r.code for r in self.reasons]


class RenderError(RegistryError):
    """Node configuration could not be produced. ``kind`` is ``MissingInput`` (the facts lack
    the module CA, the read-only user or masters), ``InvalidOptions`` (contradicting render
    options) or ``Refused`` (the dialect cannot express the configuration)."""

    kind: str

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


class ApplyError(RegistryError, OSError):
    """Writing rendered files to a folder failed; the message names the path."""

    def __init__(self, message: str, errno: int | None = None) -> None:
        RegistryError.__init__(self, message)
        self.errno = errno


class PkiError(RegistryError):
    """The orchestrator could not build a certificate or key; nothing changed
    (``failure["code"]`` is ``PkiFailed``)."""


class StoreError(RegistryError):
    """A blob store operation failed. ``code`` is the core's stable error code."""

    code: str

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class BlobNotFound(StoreError, LookupError):
    """A blob, tag, upload or lease that does not exist."""


class BlobExists(StoreError):
    """The blob is already stored (``put`` and ``commit`` report this as ``created=False``)."""


class DigestMismatch(StoreError, ValueError):
    """The content did not hash to (or was not as long as) what the caller promised; nothing
    was stored."""

    expected: str
    actual: str
    expected_size: int | None
    actual_size: int

    def __init__(
        self,
        message: str,
        code: str = "DigestMismatch",
        expected: str = "",
        actual: str = "",
        expected_size: int | None = None,
        actual_size: int = 0,
    ) -> None:
        super().__init__(message, code)
        self.expected = expected
        self.actual = actual
        self.expected_size = expected_size
        self.actual_size = actual_size


class InvalidDigest(StoreError, ValueError):
    """A string that is not a valid, supported digest (``sha256:<64 hex>``, ``sha512:<128 hex>``)."""


class InvalidTag(StoreError, ValueError):
    """A tag that does not match the OCI ref-name grammar."""


class InvalidRepository(StoreError, ValueError):
    """A repository name that does not match the repository grammar."""


class QuotaExceeded(StoreError):
    """Storing this would exceed the store's quota; nothing was written."""


class NoSpace(StoreError):
    """The file system is full; nothing partial was published."""


class CorruptBlob(StoreError):
    """A stored blob whose content does not match its digest."""


class InvalidLayout(StoreError):
    """A store root, OCI image layout or export target that is not valid."""


class InvalidManifest(StoreError):
    """A manifest or index that cannot be parsed."""


class ImportRefused(StoreError):
    """An import was refused; the store is unchanged."""


class InvalidUpload(StoreError):
    """An upload that cannot be resumed or committed in its current state."""


class Locked(StoreError):
    """Another writer holds the resource."""


class Cancelled(StoreError):
    """The progress callback returned False; the store is consistent and unchanged by the call."""
