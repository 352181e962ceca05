"""run_tasks: every task's result comes back once, in or out of this process."""
import os

import pytest

from hmh_builder.build.distribute import BackendError, run_tasks


def _pid_and_square(task, context):
    return os.getpid(), task * task + context


def test_one_worker_runs_in_this_process():
    results = list(run_tasks(_pid_and_square, [1, 2, 3], 10, workers=1))
    assert results == [(os.getpid(), 11), (os.getpid(), 14), (os.getpid(), 19)]


def test_processes_return_every_result_once():
    results = list(run_tasks(_pid_and_square, [1, 2, 3, 4], 0, workers=2))
    assert sorted(r[1] for r in results) == [1, 4, 9, 16]
    assert all(pid != os.getpid() for pid, _ in results)


def test_no_more_processes_than_tasks():
    """--workers above the number of shards left (the default is every core) starts no idle
    processes; one shard left runs right here."""
    results = list(run_tasks(_pid_and_square, [5], 0, workers=8))
    assert results == [(os.getpid(), 25)]


def test_unknown_backend_and_dask_without_scheduler():
    with pytest.raises(BackendError, match="unknown backend"):
        run_tasks(_pid_and_square, [1], 0, backend="ray")
    with pytest.raises(BackendError, match="--scheduler"):
        run_tasks(_pid_and_square, [1], 0, backend="dask")
