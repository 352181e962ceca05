"""--backend dask on a real dask.distributed LocalCluster (worker processes on loopback)."""

import pytest
from click.testing import CliRunner
from dask import distributed

from hmh_builder.cli import main
from hmh_builder.inspect.verify import verify_build
from tests.builder.helpers import build_args, kaggle_source, manifest


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as local:
        yield local


def test_dask_build_equals_the_local_build(cluster, tmp_path):
    src = kaggle_source(tmp_path, n=8)
    local = CliRunner().invoke(main, build_args(src, tmp_path / "local", "--workers", 1, "--shard-size", 3))
    assert local.exit_code == 0, local.output
    remote = CliRunner().invoke(
        main,
        build_args(
            src,
            tmp_path / "dask",
            "--backend",
            "dask",
            "--scheduler",
            cluster.scheduler_address,
            "--shard-size",
            3,
        ),
    )
    assert remote.exit_code == 0, remote.output
    assert manifest(tmp_path / "dask")["run"]["backend"] == "dask"
    assert manifest(tmp_path / "dask")["content_digest"] == manifest(tmp_path / "local")["content_digest"]
    assert verify_build(tmp_path / "dask") == []


def test_unreachable_scheduler_is_one_line(tmp_path):
    src = kaggle_source(tmp_path, n=1)
    result = CliRunner().invoke(
        main, build_args(src, tmp_path / "o", "--backend", "dask", "--scheduler", "tcp://127.0.0.1:9")
    )
    assert result.exit_code == 1
    assert "cannot reach the dask scheduler at tcp://127.0.0.1:9" in result.output
    assert "Traceback" not in result.output


def test_malformed_scheduler_address_is_one_line_not_a_worker_failure(tmp_path):
    src = kaggle_source(tmp_path, n=1)
    result = CliRunner().invoke(
        main, build_args(src, tmp_path / "o", "--backend", "dask", "--scheduler", "notaurl")
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: 'notaurl' is not a dask scheduler address (missing port "
        "number in address 'notaurl'); use e.g. tcp://HOST:8786"
    )
