"""``hmh-build [build] --src SRC --out OUT``: options → BuildConfig/RunOptions → run_build."""

from __future__ import annotations

import os
import shlex
import signal
import sys

import click

from hmh_builder.fsio import EXIT_FAILED_INPUTS, EXIT_FAULT, EXIT_INTERRUPTED, EXIT_OK
from hmh_builder.kernels.background import BACKGROUND_METHODS
from hmh_builder.schema import ALTERED_SIDES

#: Options every shard build shares (hmh-build and hmh-build iharmony4).
MAX_FAILURES_OPTION = click.option(
    "--max-failures",
    type=click.IntRange(min=0),
    default=None,
    help="Exit 0 even when up to N inputs failed [default: any failure exits 3].",
)
OVERWRITE_OPTION = click.option(
    "--overwrite",
    is_flag=True,
    help="Delete an earlier build in OUT (even with another config) and start over.",
)
PROGRESS_OPTION = click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr [default: when stderr is a terminal].",
)

_OPTIONS = [
    click.option(
        "--src",
        type=click.Path(file_okay=False),
        help="Source folder: Kaggle layout "
        "(clip_img/ + matting/) or plain layout (image/ + alpha/). Required.",
    ),
    click.option(
        "--out",
        type=click.Path(file_okay=False),
        help="Output folder for manifest.json, "
        "failures.jsonl, train/ and test/ shards. Rerunning the same command resumes. Required.",
    ),
    click.option(
        "--workers",
        type=click.IntRange(min=1),
        default=None,
        help="Worker processes (local backend) [default: all cores].",
    ),
    click.option(
        "--size",
        default=None,
        help="Output size: N (N×N, stretched like the paper; "
        "default 256), HxW (e.g. 320x240 keeps 4:3 portraits undistorted) or native.",
    ),
    click.option(
        "--background",
        type=click.Choice(BACKGROUND_METHODS),
        default=None,
        help="Background estimation: multilevel (default; faster and more accurate) or "
        "telea (the paper's reference: Telea inpainting, radius 15, mask alpha>0).",
    ),
    click.option(
        "--background-resolution",
        type=click.Choice(("auto", "source", "output")),
        default=None,
        help="Estimate the background on the full source image or after resizing to "
        "--size. auto (default): output for multilevel (faster and more accurate on JPEG "
        "sources, see benchmarks/build.py), source for telea (as the paper).",
    ),
    click.option(
        "--seed",
        type=click.IntRange(min=0),
        default=None,
        help="Base seed; each sample's random choices come from (seed, id) [default: 0].",
    ),
    click.option(
        "--test-fraction",
        type=click.FloatRange(0, 1),
        default=None,
        help="Share of ids in the test split, a pure function of the id [default: 0.1].",
    ),
    click.option(
        "--shard-size",
        default=None,
        help="Samples per shard, or auto: at most about "
        "1 GiB of images per shard (1,260 samples at 256×256) and at least 64 shards, so "
        "64 workers stay busy (538 per shard for 34,427 portraits) [default: auto].",
    ),
    click.option(
        "--recipe",
        default=None,
        help="Recipe JSON: a file, or paper / default from "
        "manifests/. Command-line options override it; it overrides the defaults.",
    ),
    click.option(
        "--altered",
        type=click.Choice(ALTERED_SIDES),
        default=None,
        help="Which side the drawn colour transform changes. background (default; the "
        "paper's main setting): I_d = A·I + (1−A)·B_t. foreground (the paper's Fig. 6 "
        "variant): the person is adjusted, I_d = A·F_t + (1−A)·B with F_t the adjusted "
        "portrait (Reinhard matches the person to another portrait's person) and I_d = I "
        "where A = 0.",
    ),
    click.option(
        "--store-b-t/--no-store-b-t",
        default=None,
        help="Also store the adjusted background B_t in each shard [default: no].",
    ),
    click.option(
        "--max-pixels",
        type=click.IntRange(min=1),
        default=None,
        help="An image or matte whose header claims more pixels fails (stage decode) "
        "without being decoded, bounding each worker's memory [default: 50000000, "
        "50 MP; AISegment portraits are 0.48 MP].",
    ),
    MAX_FAILURES_OPTION,
    click.option(
        "--backend",
        type=click.Choice(("local", "dask")),
        default="local",
        show_default=True,
        help="local: joblib worker processes here; dask: an existing dask.distributed "
        "cluster (workers must see SRC and OUT at the same paths).",
    ),
    click.option("--scheduler", default=None, help="dask scheduler address, e.g. tcp://10.0.0.5:8786."),
    OVERWRITE_OPTION,
    PROGRESS_OPTION,
]


def build_options(function):
    """Decorate a click command with every build option."""
    for option in reversed(_OPTIONS):
        function = option(function)
    return function


def _resume_command() -> str:
    args = [a for a in sys.argv[1:] if a != "--overwrite"]
    return shlex.join(["hmh-build"] + args)


def _on_sigterm(signum, frame):
    raise KeyboardInterrupt


def run_cli(**kw) -> None:
    """Run a build from parsed options and exit with the documented status."""
    from hmh_builder.pipeline.config import ConfigError, resolve_config

    if not kw.get("src") or not kw.get("out"):
        raise click.UsageError("--src and --out are required (see hmh-build --help)")
    if not os.path.isdir(kw["src"]):
        raise click.BadParameter(f"{kw['src']} is not a folder", param_hint="--src")
    if kw["backend"] == "dask" and not kw["scheduler"]:
        raise click.BadParameter("--backend dask needs --scheduler ADDRESS", param_hint="--scheduler")
    try:
        config = resolve_config(
            kw["src"],
            kw["recipe"],
            size=kw["size"],
            background=kw["background"],
            background_resolution=kw["background_resolution"],
            seed=kw["seed"],
            test_fraction=kw["test_fraction"],
            shard_size=kw["shard_size"],
            store_b_t=kw["store_b_t"],
            altered=kw["altered"],
            max_pixels=kw["max_pixels"],
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    options = run_options(
        kw["out"],
        kw["workers"],
        kw["max_failures"],
        kw["overwrite"],
        kw["progress"],
        kw["backend"],
        kw["scheduler"],
    )
    sys.exit(_run(config, options))


def run_options(
    out: str, workers, max_failures, overwrite: bool, progress, backend: str = "local", scheduler=None
):
    """RunOptions from parsed options: workers default to all cores, the progress bar to
    whether stderr is a terminal."""
    from hmh_builder.pipeline.config import RunOptions

    return RunOptions(
        out=out,
        workers=workers or os.cpu_count() or 1,
        backend=backend,
        scheduler=scheduler,
        max_failures=max_failures,
        overwrite=overwrite,
        progress=sys.stderr.isatty() if progress is None else progress,
    )


def _run(config, options) -> int:
    from hmh_builder.pipeline.distribute import BackendError
    from hmh_builder.pipeline.resume import OutError
    from hmh_builder.pipeline.run import BuildError, run_build
    from hmh_builder.pipeline.sources import SourceError

    return run_and_report(run_build, config, options, (SourceError, OutError, BackendError, BuildError))


def run_and_report(run, config, options, errors: tuple) -> int:
    """``run(config, options, echo)`` (``build.run.run_build`` or an ingest's) with SIGTERM
    taken as Ctrl-C; its outcome or error becomes hmh-build's output and exit status.
    ``errors``: the exception types that are one line for the user (exit 1)."""
    from hmh_builder.pipeline.summary import summary_lines

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        outcome = run(config, options, echo=lambda m: click.echo(m, err=True))
    except KeyboardInterrupt:
        click.echo(
            f"interrupted: finished shards are kept, temporaries removed. Resume with:\n"
            f"  {_resume_command()}",
            err=True,
        )
        return EXIT_INTERRUPTED
    except errors as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_FAULT
    except OSError as exc:
        reason = exc.strerror or str(exc)
        click.echo(f"error: {exc.filename or options.out}: {reason}", err=True)
        return EXIT_FAULT
    finally:
        signal.signal(signal.SIGTERM, previous)
    if outcome.faults:
        click.echo(
            f"error: {len(outcome.faults)} shard(s) could not be built (first: "
            f"{outcome.faults[0]}). Finished shards are kept; fix the cause and resume with:\n"
            f"  {_resume_command()}",
            err=True,
        )
        return EXIT_FAULT
    for line in summary_lines(
        outcome.manifest, outcome.failures, outcome.seconds, outcome.kept_shards, outcome.built
    ):
        click.echo(line)
    failed = outcome.manifest["counts"]["failed"]
    if failed and (options.max_failures is None or failed > options.max_failures):
        return EXIT_FAILED_INPUTS
    return EXIT_OK


@click.command("build")
@build_options
def build_command(**kw):
    """Build HMH shards from a portrait matting set (same as hmh-build with no sub-command).

    Exit status: 0 every input was written (or at most --max-failures failed); 3 some inputs
    failed (listed in OUT/failures.jsonl) and all others were written; 1 the build could not
    finish (I/O fault, unusable OUT or SRC; rerun the same command to resume); 2 usage error;
    130 interrupted (rerun the same command to resume).
    """
    run_cli(**kw)
