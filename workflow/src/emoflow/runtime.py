"""Bootstrap shared by the Snakemake scripts: logging and clean errors.

Threads are not set here: Snakemake runs each script through its shell with OMP_NUM_THREADS (and the
BLAS variables) set to the rule's ``threads``, and torch takes its thread count from OMP_NUM_THREADS
when the script first imports it (one torch thread per ``train`` job by default).
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Callable

from .errors import DataError, QCError

log = logging.getLogger("emoflow")

# The job's log ends with the package modules it ran: provenance, and the check that each rule's code
# inputs (codedeps) list exactly these.
MODULES_LINE = "package modules run:"


def loaded_modules() -> list[str]:
    """Names of the ``emoflow`` modules imported in this process so far, sorted."""
    return sorted(m for m in sys.modules if m == "emoflow" or m.startswith("emoflow."))


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
    else:
        log.info("%s %s", MODULES_LINE, " ".join(loaded_modules()))
    finally:
        if stream is not None:
            stream.flush()
