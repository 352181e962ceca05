"""CSV logs (append, fixed header, drop rows after a resumed step) and image grids."""

from __future__ import annotations

import torch

from hmh_train.train.logs import CsvLog, RunLogger, image_grid, read_csv


def test_csv_header_is_fixed_by_the_first_row_and_survives_reopening(tmp_path):
    log = CsvLog(str(tmp_path / "m.csv"))
    log.write({"step": 1, "loss": 0.5})
    CsvLog(str(tmp_path / "m.csv")).write({"step": 2, "loss": 0.25, "extra": 9})
    assert read_csv(tmp_path / "m.csv") == [{"step": "1", "loss": "0.5"}, {"step": "2", "loss": "0.25"}]


def test_resumed_logger_drops_rows_newer_than_its_checkpoint(tmp_path):
    logger = RunLogger(str(tmp_path), progress=False)
    for step in range(1, 6):
        logger.scalars(step, {"step": step, "loss": float(step)})
    logger.close()
    resumed = RunLogger(str(tmp_path), initial_step=3, progress=False)
    resumed.scalars(4, {"step": 4, "loss": 40.0})
    resumed.close()
    assert [(r["step"], r["loss"]) for r in read_csv(tmp_path / "metrics.csv")] == [
        ("1", "1.0"),
        ("2", "2.0"),
        ("3", "3.0"),
        ("4", "40.0"),
    ]


def test_image_grid_rows_are_samples_and_columns_are_images():
    rgb, grey = torch.rand(5, 3, 4, 6), torch.rand(5, 1, 4, 6)
    grid = image_grid({"a": rgb, "b": grey}, max_rows=2)
    assert grid.shape == (3, 8, 12)
    assert torch.equal(grid[:, 4:8, :6], rgb[1])
    assert torch.equal(grid[:, 0:4, 6:], grey[0].expand(3, -1, -1))


def test_disabled_logger_writes_nothing(tmp_path):
    logger = RunLogger(str(tmp_path / "r"), enabled=False)
    logger.scalars(1, {"step": 1, "loss": 1.0})
    logger.close()
    assert not (tmp_path / "r").exists()


def test_resumed_tensorboard_keeps_the_checkpoint_step_and_drops_later_ones(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = RunLogger(str(tmp_path), progress=False)
    for step in range(1, 6):
        logger.scalars(step, {"step": step, "loss": float(step)})
    logger.close()
    resumed = RunLogger(str(tmp_path), initial_step=3, progress=False)  # checkpoint at step 3
    resumed.scalars(4, {"step": 4, "loss": 40.0})
    resumed.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [
        (1, 1.0),
        (2, 2.0),
        (3, 3.0),
        (4, 40.0),
    ]
