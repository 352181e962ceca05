"""Run shard tasks: in this process, on local worker processes, or on a dask cluster.

One interface, :func:`run_tasks`, yields each task's result dict as it finishes (any order).
Tasks are small (ids + relative paths) and results are small dicts, so nothing heavy crosses
process or network boundaries. At most ``2 × workers`` tasks are in flight locally.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager

BACKENDS = ("local", "dask")


class BackendError(RuntimeError):
    """The chosen back end cannot run (missing package, unreachable scheduler)."""


def _local(fn, tasks, context, workers: int):
    workers = min(workers, len(tasks))  # no idle processes (the default is every core)
    if workers <= 1:
        for task in tasks:
            yield fn(task, context)
        return
    from joblib import Parallel, delayed

    parallel = Parallel(
        n_jobs=workers, backend="loky", return_as="generator_unordered", pre_dispatch="2*n_jobs"
    )
    yield from parallel(delayed(fn)(task, context) for task in tasks)


@contextmanager
def _dask_client(scheduler: str):
    try:
        from dask.distributed import Client
    except ImportError:
        raise BackendError(
            "--backend dask needs dask.distributed: pip install 'hmh-toolkit[cluster]'"
        ) from None
    problem = None
    try:
        client = Client(scheduler, timeout="10s")
    except (OSError, TimeoutError) as exc:
        problem = f"cannot reach the dask scheduler at {scheduler} ({exc})"
    except ValueError as exc:  # e.g. "missing port number in address"
        problem = f"{scheduler!r} is not a dask scheduler address ({exc}); use e.g. tcp://HOST:8786"
    if problem is not None:
        # A Client whose constructor failed can be left "connecting" with its event loop
        # running, closed only by its __del__, which takes a lock that distributed shares
        # between all loop runners: collected at a random later moment (say while a
        # LocalCluster starts in this process) it deadlocks. Collect it now, outside any lock.
        gc.collect()
        raise BackendError(problem)
    try:
        yield client
    finally:
        client.close()


def _dask(fn, tasks, context, scheduler: str):
    from dask.distributed import as_completed

    with _dask_client(scheduler) as client:
        futures = [
            client.submit(fn, task, context, pure=False, key=f"hmh-shard-{task.name}-{id(task)}")
            for task in tasks
        ]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            client.cancel([f for f in futures if not f.done()])


def run_tasks(fn, tasks, context, workers: int = 1, backend: str = "local", scheduler: str | None = None):
    """Yield ``fn(task, context)`` for every task as each finishes (at most len(tasks) processes).

    Args:
        fn: a module-level function (it is pickled to workers). tasks: list of tasks.
        workers: local processes (1 runs in this process). backend: "local" or "dask".
        scheduler: dask scheduler address (e.g. ``tcp://10.0.0.1:8786``) for backend "dask".
    """
    if backend == "local":
        return _local(fn, tasks, context, workers)
    if backend == "dask":
        if not scheduler:
            raise BackendError("--backend dask needs --scheduler ADDRESS (e.g. tcp://host:8786)")
        return _dask(fn, tasks, context, scheduler)
    raise BackendError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
