"""The same batch on a Ray cluster: one Editor per actor (one per GPU, or N on CPUs), through Ray Data's actor pool.

Ray's own recipe for batch diffusion inference is `ds.map_batches(ModelClass, num_gpus=1, concurrency=N)`; here each
actor loads the model once and runs the local batch's per-file step (`process_file`), which writes the photo's output
atomically into the shared output folder and returns its report line. The driver alone appends to report.jsonl, so a
line is written once per file, when its result arrives. Ray Data restarts a dead actor and retries its files
(max_restarts = max_task_retries = -1 by default); a retried file replaces what the dead attempt may have written with
the same bytes, atomically, and gets one line. Workers must see the output folder (one machine, or a shared disk) and
have unwant installed.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

from tqdm.auto import tqdm

from editor.dataset.batch import BatchSummary, Process, open_batch, process_files
from unwant.sd.scoped import environment
from unwant.sd.errors import UnwantError

RAY_EXTRA = 'pip install "unwant[ray]"'
# Actors with no GPU in the cluster: each holds a model in memory (SD 1.5 in float32 is about 4 GB), so not one per core
DEFAULT_CPU_ACTORS = 2


def import_ray():
    """Ray, or one line saying how to install it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the part the batch needs; `pip install ray` alone lacks its dependencies)
    except ImportError as error:
        raise UnwantError(f"--ray needs Ray Data, which is not installed ({error.msg}): {RAY_EXTRA}") from None
    return ray


class _PhotoWorker:
    """A Ray Data actor: the model loaded once, then one call per batch of files."""

    def __init__(self, make_processor: Callable[[], tuple[object, Process]], out_folder: Path, copy_unchanged: bool,
                 strip_metadata: bool):
        self.editor, self.process = make_processor()
        self.out_folder, self.copy_unchanged, self.strip_metadata = out_folder, copy_unchanged, strip_metadata

    def __call__(self, batch: dict) -> dict:
        # overwrite=True: the driver chose these files because they were not done (or --overwrite); anything at their
        # output now was written by this run's own attempt on an actor that died before returning
        files = [(Path(source), Path(relative)) for source, relative in zip(batch["source"], batch["relative"])]
        entries = process_files(self.editor, files, self.out_folder, self.process, overwrite=True, copy_unchanged=self.copy_unchanged,
                                strip_metadata=self.strip_metadata)
        return {"entry": [json.dumps(entry) for entry in entries]}


def _connect(ray, address: str | None) -> None:
    """Join the cluster at `address`, or (None) the one RAY_ADDRESS names, else start one here for this run."""
    for name in ("ray", "ray.data"):  # Ray's notices about its own execution are not for our users
        logging.getLogger(name).setLevel(logging.ERROR)
    # Ray's C++ core logs at level "error" that a restartable actor's constructor arguments live in the object store
    # (ray-project/ray#53727): always so for Ray Data's actors, and harmless while the run holds them; a user's own
    # RAY_BACKEND_LOG_LEVEL is kept
    try:
        with environment(RAY_BACKEND_LOG_LEVEL=os.environ.get("RAY_BACKEND_LOG_LEVEL", "fatal")):  # read as Ray starts
            ray.init(address=address, logging_level="ERROR", log_to_driver=False, include_dashboard=False)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {address}" if address else "Ray"
        raise UnwantError(f"--ray: could not start or reach {where} ({error}); check `ray status` there, or give no address "
                          "to run on this machine") from None


def cluster_layout(ray, actors: int | None) -> tuple[int, float]:
    """(actors, GPUs per actor): one actor per GPU in the cluster, else `actors` (default DEFAULT_CPU_ACTORS) on CPUs."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus:
        return (actors or gpus), 1.0
    return (actors or DEFAULT_CPU_ACTORS), 0.0


def run_ray_batch(
    inputs: list[Path],
    out_folder: Path,
    make_processor: Callable[[], tuple[object, Process]],
    *,
    address: str | None = None,
    actors: int | None = None,
    batch_size: int = 1,
    overwrite: bool = False,
    quiet: bool = False,
    lock: bool = True,
    strip_metadata: bool = False,
    copy_unchanged: bool = True,
    settings: dict | None = None,
) -> BatchSummary:
    """`run_batch` on Ray: the files still to do spread over actors that each built `make_processor()` once.

    `address`: a running cluster ("auto", "ray://host:10001"), or None to start one on this machine for the run."""
    ray = import_ray()
    with open_batch(None, inputs, out_folder, overwrite=overwrite, lock=lock, settings=settings) as run:
        if not run.todo:
            return run.summary
        started_here = not ray.is_initialized()
        if started_here:
            _connect(ray, address)
        try:
            count, gpus = cluster_layout(ray, actors)
            context = ray.data.DataContext.get_current()
            context.enable_progress_bars = context.print_on_execution_start = False  # ours counts photos, below
            items = [{"source": str(source), "relative": str(relative)} for source, relative in run.todo]
            blocks = -(-len(items) // batch_size)  # a block a batch, so every actor gets work from the start
            results = ray.data.from_items(items, override_num_blocks=blocks).map_batches(
                _PhotoWorker, batch_size=batch_size, compute=ray.data.ActorPoolStrategy(size=min(count, blocks)), num_gpus=gpus, num_cpus=1,
                fn_constructor_args=(make_processor, out_folder, copy_unchanged, strip_metadata))
            for row in tqdm(results.iter_rows(), total=len(items), desc="photos", unit="photo", disable=quiet):
                run.log(json.loads(row["entry"]))
                if run.stopping():
                    break
        finally:
            if started_here:
                ray.shutdown()
    return run.summary
