"""Croissant 1.1 metadata (``croissant.json``) for an HMH release folder.

Pure: takes the release facts (manifest, file checksums, options) and returns a JSON-LD dict.
Top-level files are ``cr:FileObject`` with ``encodingFormat``, ``contentUrl`` and ``sha256``;
the HDF5 shards of each split are a ``cr:FileSet`` (``application/x-hdf5``). One RecordSet per
split lists its shard files (HDF5 datasets inside a file are described in the card, since
Croissant has no extractor for HDF5).
"""

from __future__ import annotations

from hmh_builder.release.card import SOURCE_URL

CONFORMS_TO = "http://mlcommons.org/croissant/1.1"

ENCODINGS = {
    ".h5": "application/x-hdf5",
    ".json": "application/json",
    ".jsonl": "application/jsonlines",
    ".md": "text/markdown",
    ".png": "image/png",
}

CONTEXT = {
    "@language": "en",
    "@vocab": "https://schema.org/",
    "citeAs": "cr:citeAs",
    "column": "cr:column",
    "conformsTo": "dct:conformsTo",
    "cr": "http://mlcommons.org/croissant/",
    "rai": "http://mlcommons.org/croissant/RAI/",
    "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"},
    "dct": "http://purl.org/dc/terms/",
    "equivalentProperty": "cr:equivalentProperty",
    "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract",
    "field": "cr:field",
    "fileProperty": "cr:fileProperty",
    "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet",
    "format": "cr:format",
    "includes": "cr:includes",
    "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath",
    "key": "cr:key",
    "md5": "cr:md5",
    "parentField": "cr:parentField",
    "path": "cr:path",
    "recordSet": "cr:recordSet",
    "references": "cr:references",
    "regex": "cr:regex",
    "repeated": "cr:repeated",
    "replace": "cr:replace",
    "samplingRate": "cr:samplingRate",
    "sc": "https://schema.org/",
    "separator": "cr:separator",
    "source": "cr:source",
    "subField": "cr:subField",
    "transform": "cr:transform",
}


def encoding_of(path: str) -> str:
    """MIME type of a release file from its extension."""
    for suffix, mime in ENCODINGS.items():
        if path.endswith(suffix):
            return mime
    return "application/octet-stream"


def file_object(path: str, sha256: str, description: str) -> dict:
    return {
        "@type": "cr:FileObject",
        "@id": path,
        "name": path,
        "description": description,
        "contentUrl": path,
        "encodingFormat": encoding_of(path),
        "sha256": sha256,
    }


def shard_file_set(split: str) -> dict:
    return {
        "@type": "cr:FileSet",
        "@id": f"{split}-shards",
        "name": f"{split}-shards",
        "description": f"HDF5 shards of the {split} split (FORMAT.md version 1).",
        "encodingFormat": "application/x-hdf5",
        "includes": f"{split}/*.h5",
    }


def shard_record_set(split: str) -> dict:
    field_id = f"{split}-shard-files/path"
    return {
        "@type": "cr:RecordSet",
        "@id": f"{split}-shard-files",
        "name": f"{split}-shard-files",
        "description": f"The shard files of the {split} split.",
        "field": [
            {
                "@type": "cr:Field",
                "@id": field_id,
                "name": field_id,
                "description": "Path of the shard relative to the release folder.",
                "dataType": "sc:Text",
                "source": {"fileSet": {"@id": f"{split}-shards"}, "extract": {"fileProperty": "fullpath"}},
            }
        ],
    }


FILE_DESCRIPTIONS = {
    "manifest.json": "Build manifest: config, counts, shard checksums, content digest.",
    "failures.jsonl": "Source inputs that could not be used, one JSON object per line.",
    "README.md": "Dataset card (datasheet).",
    "preview.png": "A grid of samples: I | A | F | B | I_d.",
    "train.h5": "HDF5 virtual file joining every train shard (relative paths).",
    "test.h5": "HDF5 virtual file joining every test shard (relative paths).",
}


PAIR_SOURCE_URL = "https://github.com/bcmi/Image-Harmonization-Dataset-iHarmony4"
PAIR_DESCRIPTIONS = {
    "preview.png": "A grid of samples: I_d (composite) | M (changed region) | I (real image).",
    "failures.jsonl": "Listed composites that could not be used, one JSON object per line.",
}


def croissant_metadata(
    name: str,
    version: str,
    license_text: str,
    description: str,
    files: dict,
    splits: list,
    date_published: str,
    citation: str,
    kind: str = "hmh",
) -> dict:
    """The Croissant JSON-LD document.

    Args:
        files: top-level release file name → sha256 hex (shards are not listed here).
        splits: splits that have shards, e.g. ``["train", "test"]``.
        date_published: ISO date (YYYY-MM-DD).
        kind: ``"hmh"`` or ``"harmonization"`` (pairs read from iHarmony4).
    """
    pairs = kind == "harmonization"
    texts = {**FILE_DESCRIPTIONS, **(PAIR_DESCRIPTIONS if pairs else {})}
    distribution = [file_object(path, sha, texts.get(path, path)) for path, sha in sorted(files.items())]
    distribution += [shard_file_set(split) for split in splits]
    return {
        "@context": CONTEXT,
        "@type": "sc:Dataset",
        "conformsTo": CONFORMS_TO,
        "name": name,
        "description": description,
        "version": version,
        "license": license_text,
        "datePublished": date_published,
        "citeAs": citation,
        "isBasedOn": PAIR_SOURCE_URL if pairs else SOURCE_URL,
        "keywords": (
            ["image harmonization", "iHarmony4", "HDF5"]
            if pairs
            else ["image matting", "image harmonization", "portraits", "HDF5"]
        ),
        "distribution": distribution,
        "recordSet": [shard_record_set(split) for split in splits],
    }
