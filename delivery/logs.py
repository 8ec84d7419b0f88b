"""Log lines as JSON, one object per line, with no secret in them; set up once per process."""

from __future__ import annotations

import json
import logging
import os
import re
import time
from typing import Any

# Secrets that can reach a log line: a share link's secret in its path (`/s/<secret>`,
# `/share/<secret>/...`), in the console's address after creating one (`?link=<secret>`), and API
# tokens (`dt_...`, see api/auth.py). Compiled once; applied to every message and path logged.
_SECRETS = re.compile(r"(/s/|/share/|[?&]link=|[?&]token=)[^/?&#\s\"']+|\bdt_[A-Za-z0-9_-]+")
REDACTED = "[redacted]"

# What every LogRecord carries anyway: anything else a call passes in `extra` becomes a field
# (but uvicorn's `color_message`, the message again with terminal colours).
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message", "asctime", "taskName", "color_message"}


def redact(text: str) -> str:
    """`text` with share-link secrets and token values replaced by `[redacted]`."""
    if "/s" not in text and "link=" not in text and "token=" not in text and "dt_" not in text:
        return text  # the common case, without running the expression
    return _SECRETS.sub(lambda m: (m.group(1) or "") + REDACTED, text)


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", ...extra fields, "traceback"?}` on one line."""

    def __init__(self) -> None:
        super().__init__()
        # What these lines do not show need not be gathered for every record (the logging HOWTO's
        # "Optimization"): no caller lookup, no thread or process names. Set in each process that
        # formats with this class, uvicorn's worker processes included.
        logging._srcfile = None
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False

    def format(self, record: logging.LogRecord) -> str:
        fields = record.__dict__
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in fields.items():  # what the call passed in `extra`, in its order
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["traceback"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def level() -> str:
    """DELIVERY_LOG_LEVEL (debug, info, warning, error; default info)."""
    name = os.environ.get("DELIVERY_LOG_LEVEL", "info").upper()
    return name if name in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO"


def config() -> dict[str, Any]:
    """A `logging.config.dictConfig` (and uvicorn `log_config`): every logger as JSON lines on stderr.

    uvicorn's own access log is off: the API writes its own (`delivery.access`, with the request id).
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


def configure() -> None:
    """JSON lines for this process (the commands call it once at start)."""
    import logging.config

    logging.config.dictConfig(config())
