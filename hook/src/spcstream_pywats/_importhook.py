"""Minimal post-import hook (stdlib ``sys`` only: it runs at interpreter start-up).

``when_imported(name, callback)`` calls ``callback(module)`` right after module ``name``
has executed, by wrapping its loader.  If the module is already imported, the callback
runs at once.  Used to patch pyWATS without importing it ourselves.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

_callbacks: dict[str, list[Callable[[ModuleType], None]]] = {}


class _PatchingLoader:
    """Delegating loader: run the real ``exec_module``, then the callbacks."""

    def __init__(self, inner: object, name: str) -> None:
        self._inner = inner
        self._name = name

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        """Delegate module creation."""
        return self._inner.create_module(spec)  # type: ignore[attr-defined,no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        """Execute the real module, then fire the callbacks registered for it."""
        self._inner.exec_module(module)  # type: ignore[attr-defined]
        fire(self._name, module)

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


class _Finder:
    """``sys.meta_path`` entry that wraps the loader of watched modules."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        """Find ``fullname`` with the other finders; wrap its loader when watched."""
        if fullname not in _callbacks:
            return None
        for finder in list(sys.meta_path):
            if isinstance(finder, _Finder):
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchingLoader(spec.loader, fullname)
        return spec  # type: ignore[no-any-return]


_finder = _Finder()


def when_imported(name: str, callback: Callable[[ModuleType], None]) -> bool:
    """Run ``callback(module)`` once module ``name`` is imported.

    Returns:
        True if the module was already imported (callback ran now), else False.
    """
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return True
    _callbacks.setdefault(name, []).append(callback)
    if _finder not in sys.meta_path:
        sys.meta_path.insert(0, _finder)
    return False


def fire(name: str, module: ModuleType) -> None:
    """Run and forget the callbacks for ``name`` (errors are reported, never raised)."""
    callbacks = _callbacks.pop(name, [])
    if not _callbacks:
        cancel_all()
    for cb in callbacks:
        try:
            cb(module)
        except Exception as exc:  # never break the import of the watched module
            print(f"spcstream-pywats: post-import hook failed: {exc!r}", file=sys.stderr)


def cancel(name: str) -> None:
    """Forget the callbacks for module ``name``."""
    _callbacks.pop(name, None)
    if not _callbacks:
        cancel_all()


def cancel_all() -> None:
    """Forget every callback and remove the finder."""
    _callbacks.clear()
    while _finder in sys.meta_path:
        sys.meta_path.remove(_finder)
