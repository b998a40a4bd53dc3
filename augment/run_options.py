"""How `augment run` runs, as opposed to what it writes: workers, backend, strictness.

None of these settings changes a byte of output, so they stay out of `AugmentConfig`
(whose `job_dict` is recorded in the manifest and hashed into every sidecar) and come only
from command-line flags. `run_job` takes them as a second argument.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .backends import BACKENDS
from .config import check


@dataclass(frozen=True)
class RunOptions:
    """The run-only options of `augment run` (one per flag of the same name)."""

    jobs: int = 1  # parallel workers; negative counts back from the number of cores, as in joblib
    backend: str = "loky"  # a key of `backends.BACKENDS`
    scheduler: str | None = None  # Dask scheduler address (backend "dask" only)
    strict: bool = False  # stop at the first bad source instead of recording it
    overwrite: bool = False  # replace output written with another config or input
    progress: bool = True  # show a progress bar (on a terminal only: shards.views.cli_support.progress_enabled)
    follow_symlinks: bool = False  # read symbolic links in the input that point outside it

    def validate(self) -> "RunOptions":
        jobs_int = isinstance(self.jobs, int) and not isinstance(self.jobs, bool)
        check([
            *((isinstance(getattr(self, name), bool), name, "true or false", getattr(self, name))
              for name in ("strict", "overwrite", "progress", "follow_symlinks")),
            (jobs_int and self.jobs != 0, "jobs",
             "a non-zero integer (negative counts from the number of cores, as in joblib)", self.jobs),
            (isinstance(self.backend, str) and self.backend in BACKENDS, "backend", f"one of {sorted(BACKENDS)}",
             self.backend),
            (self.scheduler is None or isinstance(self.scheduler, str), "scheduler", "an address string",
             self.scheduler),
            (not self.scheduler or self.backend == "dask", "scheduler",
             f"unset unless backend is 'dask' (backend is {self.backend!r})", self.scheduler),
        ], what="run option")
        return self


def run_options(**flags: Any) -> RunOptions:
    """RunOptions from command-line values, a value of None meaning the default; validated."""
    return RunOptions(**{k: v for k, v in flags.items() if v is not None}).validate()
