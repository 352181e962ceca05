"""``hmh-build package OUT --release DIR ...``: make a release folder from a verified build."""

import sys

import click

from hmh_builder.fsio import first_line


@click.command("package")
@click.argument("out_dir", metavar="OUT", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--release",
    "release_dir",
    required=True,
    type=click.Path(),
    help="Release folder to create (must not exist, or be empty).",
)
@click.option("--name", required=True, help="Dataset name used in the card and metadata.")
@click.option(
    "--version", "version", required=True, metavar="X.Y.Z", help="Release version (semantic, e.g. 1.0.0)."
)
@click.option(
    "--license",
    "license_",
    default=None,
    metavar="LICENSE",
    help="Licence of this release (e.g. CC-BY-NC-4.0). Required: it is never guessed.",
)
@click.option(
    "--source-license",
    default=None,
    metavar="TEXT",
    help="Terms of the source dataset (AISegment Matting Human Datasets), written "
    "into the card; the card says 'not stated' when omitted.",
)
@click.option(
    "--preview-n", default=8, show_default=True, type=click.IntRange(1, 64), help="Rows of preview.png."
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="Seed of the preview's choice of samples."
)
def package_command(out_dir, release_dir, name, version, license_, source_license, preview_n, seed):
    """Verify OUT, then write DIR: the shards (hard links where possible), train.h5/test.h5
    (HDF5 virtual files over the shards, relative paths), manifest.json, failures.jsonl,
    preview.png, README.md (dataset card), croissant.json (Croissant 1.1) and SHA256SUMS
    (check with `sha256sum -c SHA256SUMS` inside DIR). Refuses when OUT does not verify or
    no --license is given."""
    from hmh_builder.release.package import PackageOptions, package_release

    options = PackageOptions(
        out_dir,
        release_dir,
        name,
        version,
        license_,
        source_license,
        preview_n,
        seed,
        progress=sys.stderr.isatty(),
    )
    try:
        summary = package_release(options)
    except (ValueError, OSError) as exc:  # PackageError is a ValueError
        raise click.ClickException(first_line(exc)) from None
    click.echo(
        f"wrote {release_dir}: {summary['samples']} samples in {summary['shards']} "
        f"shards ({summary['hard_linked']} hard-linked), {summary['files']} files"
    )
    click.echo(f"content-digest: {summary['content_digest']}")
