import pytest

from hmh_builder.pipeline.sources import SourceError, detect_layout, discover
from tests.builder.helpers import kaggle_source, plain_source


def test_kaggle_layout_pairs_every_image_with_its_matte_and_ignores_truth(tmp_path):
    src = kaggle_source(tmp_path, n=3)
    assert (src / "_truth").is_dir()
    pairs, failures = discover(src)
    assert failures == []
    assert [p.id for p in pairs] == ["1803151818-00000001", "1803151818-00000002", "1803151818-00000003"]
    first = pairs[0]
    assert first.image == "clip_img/1803151818/clip_00000000/1803151818-00000001.jpg"
    assert first.alpha == "matting/1803151818/matting_00000000/1803151818-00000001.png"
    assert first.layout == "kaggle"


def test_plain_layout_pairs_by_stem(tmp_path):
    src = plain_source(tmp_path, n=2)
    pairs, failures = discover(src)
    assert failures == []
    assert [(p.id, p.image, p.alpha, p.layout) for p in pairs] == [
        ("portrait-00001", "image/portrait-00001.jpg", "alpha/portrait-00001.png", "plain"),
        ("portrait-00002", "image/portrait-00002.jpg", "alpha/portrait-00002.png", "plain"),
    ]


def test_partner_missing_on_either_side_is_a_pair_failure_not_fatal(tmp_path):
    src = kaggle_source(tmp_path, n=3)
    (src / "matting/1803151818/matting_00000000/1803151818-00000001.png").unlink()
    (src / "clip_img/1803151818/clip_00000000/1803151818-00000002.jpg").unlink()
    pairs, failures = discover(src)
    assert [p.id for p in pairs] == ["1803151818-00000003"]
    assert [(f["id"], f["stage"]) for f in failures] == [
        ("1803151818-00000001", "pair"),
        ("1803151818-00000002", "pair"),
    ]
    assert "has no matte" in failures[0]["reason"] and "matting_00000000" in failures[0]["reason"]
    assert failures[1]["path"].startswith("matting/") and "has no image" in failures[1]["reason"]


def test_duplicate_id_in_another_group_is_reported_once(tmp_path):
    src = kaggle_source(tmp_path, n=1)
    for top, sub, ext in (("clip_img", "clip", "jpg"), ("matting", "matting", "png")):
        a = src / top / "1803151818" / f"{sub}_00000000" / f"1803151818-00000001.{ext}"
        b = src / top / "other" / f"{sub}_00000000" / a.name
        b.parent.mkdir(parents=True)
        b.write_bytes(a.read_bytes())
    pairs, failures = discover(src)
    assert len(pairs) == 1 and len(failures) == 1
    assert "used twice" in failures[0]["reason"]


def test_unknown_layout_and_missing_folder_raise_one_sentence(tmp_path):
    with pytest.raises(SourceError, match="neither clip_img"):
        detect_layout(tmp_path)
    with pytest.raises(SourceError, match="does not exist"):
        discover(tmp_path / "nope")


def test_symlinked_folders_are_followed_and_a_loop_ends(tmp_path):
    """A group folder that is a symlink (data on another disk) is part of the source; a
    symlink pointing back up the tree is walked once, not forever."""
    real = kaggle_source(tmp_path / "real", n=2)
    src = tmp_path / "linked"
    for top in ("clip_img", "matting"):
        (src / top).mkdir(parents=True)
        (src / top / "1803151818").symlink_to(real / top / "1803151818", target_is_directory=True)
    (real / "clip_img" / "1803151818" / "loop").symlink_to(real / "clip_img", target_is_directory=True)
    pairs, failures = discover(src)
    assert [p.id for p in pairs] == ["1803151818-00000001", "1803151818-00000002"]
    assert pairs[0].image == "clip_img/1803151818/clip_00000000/1803151818-00000001.jpg"
    assert failures == []
