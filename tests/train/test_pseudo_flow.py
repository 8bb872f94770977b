"""DIS pseudo-flow labels and their loss on the flow pyramid (train/pseudo_flow.py), and their use in training."""
import csv

import pytest
import torch

from filmnet.errors import InputError
from filmnet.model.flow_estimator import flow_pyramid_synthesis
from filmnet.train.config import TrainConfig
from filmnet.train.pseudo_flow import pseudo_flow_loss, pseudo_flows

from helpers import Triplets, textured_triplet, tiny_cfg

pytest.importorskip("cv2", reason="pseudo-flow labels need OpenCV (opencv-python-headless, in the test extra)")


def shifted_pair(dx: int, dy: int, size: int = 96):
    """x1 is x0's texture moved by (dx, dy): I0(p) = I1(p + (dx, dy))."""
    tex = textured_triplet(size + 16, shift=0, seed=3)["x0"]
    x0 = tex[:, 8:8 + size, 8:8 + size]
    x1 = tex[:, 8 - dy:8 - dy + size, 8 - dx:8 - dx + size]
    return x0.contiguous(), x1.contiguous()


def test_labels_recover_a_translation_both_ways_and_mask_what_leaves_the_frame():
    x0, x1 = shifted_pair(5, -3)
    labels = pseudo_flows(x0, x1)
    assert labels.shape == (6, 96, 96) and labels.dtype == torch.float32
    inner = (slice(16, -16), slice(16, -16))
    assert labels[0][inner].mean().item() == pytest.approx(5.0, abs=0.3)
    assert labels[1][inner].mean().item() == pytest.approx(-3.0, abs=0.3)
    assert labels[3][inner].mean().item() == pytest.approx(-5.0, abs=0.3)
    assert labels[4][inner].mean().item() == pytest.approx(3.0, abs=0.3)
    assert labels[2][inner].mean().item() > 0.95 and labels[5][inner].mean().item() > 0.95
    # Pixels of I0 whose match lies outside I1 (the last 5 columns for dx = +5) are not labelled.
    assert labels[2][:, -4:].mean().item() < 0.05
    assert labels[5][:, :4].mean().item() < 0.05


def residuals_for_constant_flow(u: float, v: float, size: int = 64, levels: int = 4):
    """Residual pyramid (finest first) whose accumulated flows are (u, v) / 2**level everywhere."""
    residuals = [torch.zeros(1, 2, size >> i, size >> i) for i in range(levels)]
    residuals[-1][:, 0] = u / 2 ** (levels - 1)
    residuals[-1][:, 1] = v / 2 ** (levels - 1)
    return residuals


def constant_labels(u: float, v: float, size: int = 64) -> torch.Tensor:
    labels = torch.ones(1, 6, size, size)
    labels[:, 0], labels[:, 1], labels[:, 3], labels[:, 4] = u, v, -u, -v
    return labels


def test_loss_is_zero_for_matching_pyramids_and_counts_each_level_in_its_pixels():
    fwd, bwd = residuals_for_constant_flow(4.0, -2.0), residuals_for_constant_flow(-4.0, 2.0)
    labels = constant_labels(4.0, -2.0)
    for pred, want in zip(flow_pyramid_synthesis(fwd), (4.0, 2.0, 1.0, 0.5)):
        assert pred[:, 0].mean().item() == pytest.approx(want)
    assert pseudo_flow_loss(fwd, bwd, labels).item() == pytest.approx(0.0, abs=1e-6)
    # One level off by 1 px in x, in one direction: 1 / (2 directions * 4 levels).
    fwd[0][:, 0] += 1.0
    assert pseudo_flow_loss(fwd, bwd, labels).item() == pytest.approx(1.0 / 8, rel=1e-5)


def test_loss_ignores_unlabelled_pixels():
    fwd, bwd = residuals_for_constant_flow(2.0, 1.0), residuals_for_constant_flow(-2.0, -1.0)
    labels = constant_labels(2.0, 1.0)
    labels[:, 0, :, :32] = 50.0  # wrong labels...
    labels[:, 2, :, :32] = 0.0  # ...marked invalid
    assert pseudo_flow_loss(fwd, bwd, labels).item() == pytest.approx(0.0, abs=1e-6)
    labels[:, 2, :, :32] = 1.0
    assert pseudo_flow_loss(fwd, bwd, labels).item() > 1.0


def moving_clip(folder, frames: int = 5):
    from PIL import Image

    folder.mkdir()
    tex = textured_triplet(160, shift=0, seed=1)["x0"]
    for i in range(frames):
        frame = tex[:, 16:144, 4 * i:4 * i + 128]
        Image.fromarray((frame.permute(1, 2, 0).numpy() * 255).round().astype("uint8")).save(folder / f"{i:03d}.png")
    return folder


def test_dataset_items_carry_labels_of_their_own_augmented_crop(tmp_path):
    from filmnet.train.data import build_train_dataset

    folder = moving_clip(tmp_path / "clip")
    train = build_train_dataset([folder], crop=64, spacings=(1,), pseudo_flow=True, check_files=False)
    item = train[0]
    assert item["flow"].shape == (6, 64, 64)
    torch.testing.assert_close(item["flow"], pseudo_flows(item["x0"], item["x1"]))
    plain = build_train_dataset([folder], crop=64, spacings=(1,), check_files=False)
    assert "flow" not in plain[0]
    val = build_train_dataset([folder], crop=64, spacings=(1,), split="val", holdout=0.5, pseudo_flow=True,
                              check_files=False)
    assert "flow" not in val[0]


def test_labels_in_forked_workers_after_the_parent_used_opencv(tmp_path):
    """Regression: a worker_init_fn calling cv2.setNumThreads hung forked workers once the parent had run DIS."""
    from torch.utils.data import DataLoader

    from filmnet.train.data import build_train_dataset, seed_worker

    pseudo_flows(*shifted_pair(2, 1))  # starts OpenCV's thread pool in this process
    ds = build_train_dataset([moving_clip(tmp_path / "clip", frames=7)], crop=64, spacings=(1,), pseudo_flow=True,
                             check_files=False)
    loader = DataLoader(ds, batch_size=2, num_workers=2, worker_init_fn=seed_worker, timeout=120,
                        multiprocessing_context="fork")
    batch = next(iter(loader))
    assert batch["flow"].shape == (2, 6, 64, 64)


class LabelledTriplets(Triplets):
    def __getitem__(self, i):
        item = dict(super().__getitem__(i))
        item["flow"] = pseudo_flows(item["x0"], item["x1"])
        return item


def test_trainer_adds_the_weighted_term_until_it_is_released(tmp_path):
    from filmnet.train.trainer import train

    run = train(tiny_cfg(tmp_path / "run", steps=4, log_every=1, pseudo_flow_weight=0.5, pseudo_flow_steps=2),
                train_set=LabelledTriplets(n=8))
    rows = list(csv.DictReader((run / "log.csv").open()))
    terms = {int(r["step"]): r["pseudo_flow"] for r in rows if r["loss"]}
    assert float(terms[1]) > 0 and float(terms[2]) > 0  # weight 0.5, then 0.25
    assert terms[3] == "" and terms[4] == ""  # weight 0 from step 2 on: not computed


def test_config_refuses_a_weight_without_a_release_step():
    with pytest.raises(InputError, match="pseudo_flow_steps"):
        TrainConfig(pseudo_flow_weight=0.1)
    with pytest.raises(InputError, match="pseudo_flow_weight"):
        TrainConfig(pseudo_flow_weight=-1.0, pseudo_flow_steps=10)


class CountingLabelled(Triplets):
    """Labels only while `pseudo_flow` is set (as TripletDataset); records what it served."""

    def __init__(self, n):
        super().__init__(n=n)
        self.pseudo_flow, self.served, self.labelled = True, [], 0

    def __getitem__(self, i):
        item = dict(super().__getitem__(i))
        self.served.append(i)
        if self.pseudo_flow:
            self.labelled += 1
            item["flow"] = pseudo_flows(item["x0"], item["x1"])
        return item


def test_labels_stop_being_computed_at_release_without_changing_the_data_order(tmp_path):
    from filmnet.train.trainer import train

    labelled = CountingLabelled(n=8)
    train(tiny_cfg(tmp_path / "a", steps=6, pseudo_flow_weight=0.5, pseudo_flow_steps=2), train_set=labelled)
    plain = CountingLabelled(n=8)
    plain.pseudo_flow = False
    train(tiny_cfg(tmp_path / "b", steps=6), train_set=plain)
    per_step = len(plain.served) // 6
    assert not labelled.pseudo_flow
    assert labelled.labelled == 2 * per_step  # steps 1 and 2 only
    assert labelled.served[:6 * per_step] == plain.served  # the release restarts the loader in place


class SharedCountLabelled(Triplets):
    """Counts labels across loader worker processes (a shared counter inherited by fork)."""

    def __init__(self, n):
        import multiprocessing

        super().__init__(n=n)
        self.pseudo_flow, self.labelled = True, multiprocessing.get_context("fork").Value("i", 0)

    def __getitem__(self, i):
        item = dict(super().__getitem__(i))
        if self.pseudo_flow:
            with self.labelled.get_lock():
                self.labelled.value += 1
            item["flow"] = pseudo_flows(item["x0"], item["x1"])
        return item


def test_released_labels_stop_in_the_loader_workers_too(tmp_path):
    from filmnet.train.trainer import train

    data = SharedCountLabelled(n=40)
    train(tiny_cfg(tmp_path / "run", steps=10, num_workers=1, pseudo_flow_weight=0.5, pseudo_flow_steps=2,
                   val_every=100, image_every=100), train_set=data)
    # batch 2: 4 labelled items used, at most 2 more batches prefetched before the release; 20 without it
    assert 4 <= data.labelled.value <= 8
