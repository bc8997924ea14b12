"""The Secret value type: a string that will not show itself by accident."""

from __future__ import annotations

import hashlib
import secrets as _secrets
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["MaskedStr", "Secret"]

_MASK = "**********"


class Secret:
    """A secret string that masks itself in ``str``, ``repr`` and ``format``.

    Modelled on pydantic's ``SecretStr``, but with no ``__len__`` and a mask for
    empty values too, because a length is information. Read the value with the
    deliberately wordy :meth:`reveal`. Equality runs in constant time. Pickling,
    ``copy``, ``deepcopy`` and ``__getstate__`` (jsonpickle and friends) are
    refused, and no attribute or slot holds the plaintext (it lives in a closure).

    Args:
        value: the secret.
        name: what it is (a provider name); shown in reprs and redaction markers.

    Example:
        >>> key = Secret("sk-live-123", name="weather")
        >>> print(key)
        **********
        >>> key.reveal()
        'sk-live-123'
    """

    __slots__ = ("_reveal", "_name", "_origin")

    _reveal: Callable[[], str]
    _name: str | None
    _origin: object

    def __init__(self, value: str, *, name: str | None = None) -> None:
        if not isinstance(value, str):
            raise TypeError(f"Secret takes a str, not {type(value).__name__}")
        object.__setattr__(self, "_reveal", lambda: value)
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_origin", None)

    def reveal(self) -> str:
        """Return the secret value. Pass it on; never log or print it."""
        return self._reveal()

    @property
    def name(self) -> str | None:
        """What the secret is (usually the credential provider's name)."""
        return self._name

    @property
    def fingerprint(self) -> str:
        """A short, non-reversible digest to tell values apart in logs (``sha256:<12 hex>``).

        It is stable across processes, so the CLI and your logs can be compared.
        """
        return "sha256:" + hashlib.sha256(self._reveal().encode()).hexdigest()[:12]

    def __str__(self) -> str:
        return _MASK

    def __repr__(self) -> str:
        if self._name is None:
            return f"Secret('{_MASK}')"
        return f"Secret('{_MASK}', name={self._name!r})"

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return _secrets.compare_digest(self._reveal().encode(), other._reveal().encode())
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("agentcore_auth.Secret", self._reveal()))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        _refuse("pickled")

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        _refuse("pickled")

    def __getstate__(self) -> NoReturn:
        _refuse("serialized")

    def __copy__(self) -> NoReturn:
        _refuse("copied")

    def __deepcopy__(self, memo: object) -> NoReturn:
        _refuse("copied")


def _refuse(what: str) -> NoReturn:
    raise TypeError(f"Secret refuses to be {what}; pass Secret.reveal() explicitly if you must")


class MaskedStr(str):
    """The plain credential the decorators inject: a ``str`` whose ``repr`` is masked.

    ``str()``, f-strings, ``%s``, ``.encode()``, concatenation, ``json.dumps`` and
    HTTP headers all give the value, since it *is* a ``str``; but ``repr()`` (what
    traceback locals, debuggers' variable views, loguru's ``diagnose``, rich's
    ``show_locals`` and container reprs print) shows ``'[REDACTED:<name>]'``. Slices
    stay masked (rich shortens long locals by slicing). Operations that make a new
    string (``+``, ``.strip()``, ``str(x)``) return a plain ``str``.

    Example:
        >>> key = MaskedStr("sk-live-0123456789", name="weather")
        >>> repr(key), f"{key}", {"key": key}
        ("'[REDACTED:weather]'", 'sk-live-0123456789', {'key': '[REDACTED:weather]'})
    """

    _name: str

    def __new__(cls, value: str, *, name: str | None = None) -> MaskedStr:
        self = super().__new__(cls, value)
        self._name = name or "secret"
        return self

    def __repr__(self) -> str:
        return f"'[REDACTED:{self._name}]'"

    def __getitem__(self, key: Any) -> str:
        part = str.__getitem__(self, key)
        return MaskedStr(part, name=self._name) if part else part
