"""Zero-touch activation, imported by ``spcstream_pywats-autoload.pth`` at interpreter
start when ``SPCSTREAM_BOOTSTRAP_SERVERS`` is set.

It only registers a post-import hook (stdlib ``os``/``sys`` only, well under a
millisecond); the hook itself (and confluent-kafka) is loaded when pyWATS's report
service module is imported.  ``SPCSTREAM_DISABLE=1`` turns it off.  Any error is
reported and swallowed: a broken configuration must never break the station's Python.
"""

from __future__ import annotations

import os
import sys

from . import _importhook

TARGET_MODULE = "pywats.domains.report.async_service"

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType


def _install_from_env(module: ModuleType) -> None:
    import logging

    try:
        from . import patch
        from .hook import install

        patch._patch_module(module)
        install()
    except Exception as exc:
        logging.getLogger("spcstream_pywats").error(
            "spcstream: hook not started (%s); submit is unaffected", exc
        )


def _activate() -> None:
    if os.environ.get("SPCSTREAM_DISABLE", "").strip().lower() not in ("", "0", "false", "no"):
        return
    if not os.environ.get("SPCSTREAM_BOOTSTRAP_SERVERS"):
        return
    _importhook.when_imported(TARGET_MODULE, _install_from_env)


try:
    _activate()
except Exception as _exc:  # pragma: no cover - defensive
    print(f"spcstream-pywats: autoload failed: {_exc!r}", file=sys.stderr)
