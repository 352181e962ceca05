"""run_tasks: every task's result comes back once, in or out of this process."""

import os

import pytest

from hmh_builder.pipeline.distribute import BackendError, run_tasks


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


@pytest.mark.parametrize("scheduler", ["notaurl", "tcp://[::1"])
def test_a_failed_dask_client_is_closed_at_once(scheduler):
    """A malformed address leaves distributed's half-made Client "connecting" with its loop
    running; if the garbage collector closed it later, its __del__ would take the lock all of
    distributed's loop runners share, and deadlock a LocalCluster starting at that moment
    (seen in a random-order run of the suite). run_tasks must leave no such client behind."""
    import gc

    from distributed import Client

    # type(o), not isinstance: that reads __class__ of every object, and some of torch's
    # deprecated module attributes warn when read
    before = {id(o) for o in gc.get_objects() if type(o) is Client}
    with pytest.raises(BackendError, match="is not a dask scheduler address"):
        list(run_tasks(_pid_and_square, [1], 0, backend="dask", scheduler=scheduler))
    gc.disable()  # only what run_tasks itself collected counts
    try:
        left = [o.status for o in gc.get_objects() if type(o) is Client and id(o) not in before]
    finally:
        gc.enable()
    assert left == []
