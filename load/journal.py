"""What the simulated owners record during a load run, for the checker after it (load/books.py): one JSON object a
line in the file LOAD_JOURNAL names. Locust's users are greenlets of one process, and a line is written and
flushed in one call, so lines never interleave.

Records, by `t`:
- `owner`   a guest or a signed-in user: its cookies and address (to read its usage afterwards), its plan, and
            its usage right before its first charge (`baseline`: daily images, monthly tenths, credit tenths)
- `charge`  a 200 generate or a 202 job create: what the answer charged (tenths), the cost its options imply,
            the result URL (generate) or the job id (a job's charge stands only if it ends succeeded)
- `cancel`  a cancel's answer: the job and the status it answered with
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

JOURNAL_VARIABLE = "LOAD_JOURNAL"


class Journal:
    def __init__(self, path: str | Path | None = None) -> None:
        target = path or os.environ.get(JOURNAL_VARIABLE)
        self._file = Path(target).open("a", encoding="utf-8") if target else None  # noqa: SIM115 - kept open
        self._lock = threading.Lock()

    def write(self, record: str, /, **fields: Any) -> None:
        if self._file is None:
            return
        line = json.dumps({"t": record, "at": time.time(), **fields}, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()


def read(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def tenths(amount: float) -> int:
    """A charge or usage in credits (one decimal at most) as whole tenths."""
    return round(amount * 10)
