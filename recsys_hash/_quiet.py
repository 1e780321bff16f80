"""Drop one notice torch logs the first time any TorchRec KeyedJaggedTensor is built.

torch.fx wraps KJT construction (`ProxyableClassMeta.__call__`) in `is_fx_tracing()`, whose deprecation notice
("is_fx_tracing will return true for both fx.symbolic_trace and torch.export ...") is printed on stderr by every
recall, audit and demo run. A filter on that one logger, matching that one message, leaves every other log alone.
"""
from __future__ import annotations

import logging

_LOGGER = "torch.fx._symbolic_trace"
_NOTICE = "is_fx_tracing will return true for both fx.symbolic_trace and torch.export"


class _DropFxTracingNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_NOTICE)


def quiet_fx_tracing_notice() -> None:
    """Install the filter once (idempotent); called by the modules that build KJTs."""
    logger = logging.getLogger(_LOGGER)
    if not any(isinstance(f, _DropFxTracingNotice) for f in logger.filters):
        logger.addFilter(_DropFxTracingNotice())
