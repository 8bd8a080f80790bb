"""Bootstrap shared by the Snakemake scripts: logging, threads, clean errors."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Callable

from .errors import DataError, QCError

log = logging.getLogger("emoflow")


def run(smk, main: Callable) -> None:
    """Run ``main(smk)`` with stdout/stderr and logging going to the rule's log file.

    Data and QC errors end the job with one clear line (file and problem) in the log and on
    stderr; anything else keeps its traceback in the log.
    """
    log_path = smk.log[0] if len(smk.log) else None
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    stream = None
    if log_path:
        stream = open(log_path, "w", buffering=1)
        handlers = [logging.StreamHandler(stream)]
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    threads = int(getattr(smk, "threads", 1) or 1)
    torch = sys.modules.get("torch")  # only scripts that use torch pay for importing it
    if torch is not None:
        torch.set_num_threads(threads)
    try:
        main(smk)
    except (DataError, QCError) as exc:
        msg = f"ERROR in rule {smk.rule}: {exc}"
        log.error(msg)
        print(msg, file=sys.stderr)
        sys.exit(1)
    except Exception:
        log.error("unexpected failure in rule %s:\n%s", smk.rule, traceback.format_exc())
        raise
    finally:
        if stream is not None:
            stream.flush()
