"""Install the submit wrapper into pyWATS, now or as soon as pyWATS is imported.

pyWATS has no hook points on the submit path, but every JSON submit (sync ``pyWATS``,
``AsyncWATS``, the client service) goes through ``AsyncReportService.submit_report``
(``submit`` is an alias that calls it).  We replace that method on the class with an
``async def`` wrapper:

* it must be a coroutine function: pyWATS's sync ``SyncServiceWrapper`` only runs
  attributes for which ``inspect.iscoroutinefunction`` is true;
* it awaits the original and publishes only when the server returned an id;
* for a report model it passes pyWATS the dict pyWATS would build anyway
  (``model_dump(mode="json", by_alias=True, exclude_none=True)``, which is all
  ``post_wsjf`` does with a model), so the report is serialized once, not twice, and the
  published bytes are the encoding of the very dict httpx sent (``predump``, default on);
* it never raises (a raise after a successful POST could make the caller or pyWATS retry
  and duplicate the report in WATS); whatever pyWATS raises propagates unchanged.

When pyWATS is not importable yet, a post-import hook (:mod:`._importhook`) patches
``pywats.domains.report.async_service`` right after it executed.  The zero-touch ``.pth``
autoload uses the same hook so that interpreter start-up never imports pyWATS.
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any, Protocol

from . import _importhook

logger = logging.getLogger(__name__)

TARGET_MODULE = "pywats.domains.report.async_service"
TARGET_CLASS = "AsyncReportService"
TARGET_METHOD = "submit_report"
_MARK = "__spcstream_original__"


class SubmitObserver(Protocol):
    """What the wrapper calls around pyWATS (see :class:`spcstream_pywats.Hook`)."""

    def before_submit(self, report: Any) -> Any:
        """Return a replacement for ``report`` that pyWATS sends identically (the dict
        pyWATS would build itself), or None to pass ``report`` unchanged; must not raise.
        """

    def after_submit(self, report: Any, result: Any, payload: Any = None) -> None:
        """Handle a finished submit (``payload``: what ``before_submit`` returned)."""


_lock = threading.RLock()
_observer: SubmitObserver | None = None


def set_observer(observer: SubmitObserver | None) -> None:
    """Set the object the wrapper reports accepted submits to (None: pass-through)."""
    global _observer
    _observer = observer


def get_observer() -> SubmitObserver | None:
    """Return the current observer."""
    return _observer


def _make_wrapper(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    async def submit_report(self: Any, *args: Any, **kwargs: Any) -> Any:
        observer = _observer
        if observer is None:
            return await original(self, *args, **kwargs)
        report = args[0] if args else kwargs.get("report")
        payload = None
        try:
            payload = observer.before_submit(report)
        except Exception:  # never raises by contract; belt and braces
            logger.debug("spcstream: before_submit raised", exc_info=True)
        if payload is not None:
            if args:
                args = (payload, *args[1:])
            else:
                kwargs = {**kwargs, "report": payload}
        result = await original(self, *args, **kwargs)
        try:
            observer.after_submit(report, result, payload)
        except Exception:
            logger.debug("spcstream: after_submit raised", exc_info=True)
        return result

    setattr(submit_report, _MARK, original)
    return submit_report


def _patch_module(module: ModuleType) -> bool:
    cls = getattr(module, TARGET_CLASS, None)
    if cls is None:
        logger.error("spcstream: %s.%s not found; hook inactive", TARGET_MODULE, TARGET_CLASS)
        return False
    current = cls.__dict__.get(TARGET_METHOD)
    if current is None:
        logger.error("spcstream: %s.%s missing; hook inactive", TARGET_CLASS, TARGET_METHOD)
        return False
    if getattr(current, _MARK, None) is not None:
        return True  # already patched
    setattr(cls, TARGET_METHOD, _make_wrapper(current))
    logger.debug("spcstream: patched %s.%s.%s", TARGET_MODULE, TARGET_CLASS, TARGET_METHOD)
    return True


def is_patched() -> bool:
    """Tell whether pyWATS is imported and its submit path wrapped."""
    module = sys.modules.get(TARGET_MODULE)
    if module is None:
        return False
    cls = getattr(module, TARGET_CLASS, None)
    current = cls.__dict__.get(TARGET_METHOD) if cls is not None else None
    return getattr(current, _MARK, None) is not None


def unpatch() -> None:
    """Restore pyWATS's original method (if patched) and drop a pending import hook."""
    with _lock:
        _importhook.cancel(TARGET_MODULE)
        module = sys.modules.get(TARGET_MODULE)
        if module is None:
            return
        cls = getattr(module, TARGET_CLASS, None)
        current = cls.__dict__.get(TARGET_METHOD) if cls is not None else None
        original = getattr(current, _MARK, None)
        if original is not None:
            setattr(cls, TARGET_METHOD, original)


def apply(on_import: Callable[[], None] | None = None) -> bool:
    """Patch pyWATS now if it is importable, else as soon as it gets imported.

    Args:
        on_import: called once right after pyWATS got patched lazily.

    Returns:
        True if pyWATS is patched now, False if patching is deferred to its import.
    """
    with _lock:
        module = sys.modules.get(TARGET_MODULE)
        if module is None:
            try:
                module = importlib.import_module(TARGET_MODULE)
            except ImportError:
                module = None
                logger.debug("spcstream: pyWATS not importable yet; deferring the patch")
        if module is not None:
            return _patch_module(module)

        def _deferred(mod: ModuleType) -> None:
            with _lock:
                _patch_module(mod)
            if on_import is not None:
                on_import()

        _importhook.when_imported(TARGET_MODULE, _deferred)
        return False
