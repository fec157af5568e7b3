"""JSON logs on stdout, one object per line, through structlog.

Standard-library loggers (uvicorn, pymongo) are routed through the same renderer, so every
line the process writes is JSON. Uvicorn's access log is switched off: the request middleware
writes one richer line per request instead (with the request id, route template and duration).
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

_HANDLER_NAME = "app-json-stdout"


class _StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever sys.stdout is when a record is emitted, not when it was configured."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout  # not setStream(): it flushes the old, maybe closed, stream
        super().emit(record)


_SHARED_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str) -> None:
    """Send structlog and stdlib logging to stdout as JSON at the given level.

    Idempotent: calling it again (one call per app instance) replaces only its own handler,
    so handlers installed by others (pytest's log capture) stay.
    """
    structlog.configure(
        processors=[
            *_SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_SHARED_PROCESSORS,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    handler = _StdoutHandler(sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
    # PyMongo logs every heartbeat failure at DEBUG/INFO; outages are reported by readiness.
    logging.getLogger("pymongo").setLevel(max(logging.WARNING, root.level))


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
