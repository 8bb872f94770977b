"""Trainer: overfitting, exact resume, run folder, config precedence, bad batches, Ctrl-C, and 2-rank DDP (gloo)."""
import csv
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import filmnet
from filmnet import FILM, FILMConfig
from filmnet.errors import InputError, WeightsError
from filmnet.train.checkpoint import list_checkpoints, load_checkpoint
from filmnet.train.config import TrainConfig, load_train_config
from filmnet.train.trainer import train
from helpers import Triplets, textured_triplet, tiny_cfg

ROOT = Path(__file__).resolve().parents[2]


class NaNEvery(Triplets):
    def __getitem__(self, i):
        item = dict(super().__getitem__(i))
        if i == 1:
            item["y"] = torch.full_like(item["y"], float("nan"))
        return item


class InterruptAt(Triplets):
    """Sends SIGINT to this process on the `at`-th fetch, like a user pressing Ctrl-C."""

    def __init__(self, at: int, **kw):
        super().__init__(**kw)
        self.at, self.fetches = at, 0

    def __getitem__(self, i):
        self.fetches += 1
        if self.fetches == self.at:
            os.kill(os.getpid(), signal.SIGINT)
        return super().__getitem__(i)


def read_native(path: Path) -> tuple[FILMConfig, dict[str, torch.Tensor]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        state = {k: f.get_tensor(k) for k in f.keys()}
    assert meta["format"] == "filmnet"
    return FILMConfig.from_dict(json.loads(meta["config"])), state


def psnr(model: FILM, item: dict[str, torch.Tensor]) -> float:
    with torch.no_grad():
        pred = model(item["x0"][None], item["x1"][None]).image.clamp(0, 1)
    return -10 * math.log10(F.mse_loss(pred, item["y"][None]).item())


@pytest.mark.slow
def test_overfits_one_triplet(tmp_path):
    item = textured_triplet(64, shift=2, seed=7)
    dataset = Triplets(n=8, distinct=1)
    dataset.items = [item]
    cfg = tiny_cfg(tmp_path / "run", steps=100, batch_size=1, lr=4e-3, ckpt_every=1000, log_every=50,
                   image_every=1000, val_every=1000)
    torch.manual_seed(cfg.seed)  # the trainer seeds with cfg.seed before building the model: same initial weights
    before = psnr(FILM("film_tiny"), item)
    run = train(cfg, train_set=dataset)
    config, state = read_native(run / "model.safetensors")
    model = FILM(config)
    model.load_state_dict(state)
    after = psnr(model, item)
    assert after - before >= 10.0, (before, after)


@pytest.mark.slow
def test_resume_is_exact(tmp_path):
    straight = train(tiny_cfg(tmp_path / "a", steps=10, ckpt_every=5), train_set=Triplets(n=6))
    train(tiny_cfg(tmp_path / "b", steps=5, ckpt_every=5), train_set=Triplets(n=6))
    resumed = train(tiny_cfg(tmp_path / "b", steps=10, ckpt_every=5, resume=True), train_set=Triplets(n=6))
    # n=6, batch 2: 3 batches per epoch, so the resume point (step 5) is part-way into epoch 1.
    _, a = read_native(straight / "model.safetensors")
    _, b = read_native(resumed / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    ca, cb = (load_checkpoint(list_checkpoints(r)[-1]) for r in (straight, resumed))
    assert ca["step"] == cb["step"] == 10 and ca["data"] == cb["data"]
    assert all(torch.equal(x, y) for x, y in zip(ca["optimizer"]["state"][0].values(),
                                                 cb["optimizer"]["state"][0].values()))


def test_run_folder_contents(tmp_path):
    run = train(tiny_cfg(tmp_path / "run"), train_set=Triplets(n=8), val_set=Triplets(n=2))
    config, state = read_native(run / "model.safetensors")
    assert config == FILM("film_tiny").config
    loaded = filmnet.load_model(run / "model.safetensors")
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())
    ckpts = list_checkpoints(run)
    assert [p.name for p in ckpts] == ["step_000000004.pt", "step_000000006.pt"]  # keep_last=2
    final = load_checkpoint(ckpts[-1])
    assert all(torch.equal(state[k], v.contiguous()) for k, v in final["model"].items())
    with (run / "log.csv").open() as f:
        rows = list(csv.DictReader(f))
    train_rows = [r for r in rows if r["loss"]]
    assert [int(r["step"]) for r in train_rows] == [2, 4, 6]
    assert all(math.isfinite(float(r["loss"])) and float(r["lr"]) == pytest.approx(1e-3) for r in train_rows)
    val_rows = [r for r in rows if r["val_psnr"]]
    assert [int(r["step"]) for r in val_rows] == [3, 6] and all(float(r["val_psnr"]) > 0 for r in val_rows)
    assert any((run / "tb").iterdir())
    assert json.loads((run / "config.json").read_text())["model"] == "film_tiny"


@pytest.mark.slow
def test_trains_and_resumes_on_shared_data(data_dir, tmp_path):
    kw = dict(data=(str(data_dir / "vimeo_septuplet"),), spacings=(1,), holdout=0.3, val_every=2, val_batches=1,
              num_workers=2, ckpt_every=2, log_every=2)
    straight = train(tiny_cfg(tmp_path / "a", steps=4, **kw))
    train(tiny_cfg(tmp_path / "b", steps=2, **kw))
    resumed = train(tiny_cfg(tmp_path / "b", steps=4, resume=True, **kw))
    _, a = read_native(straight / "model.safetensors")
    _, b = read_native(resumed / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)  # workers > 0: augmentation is seeded per (epoch, index)
    with (straight / "log.csv").open() as f:
        val = [float(r["val_psnr"]) for r in csv.DictReader(f) if r["val_psnr"]]
    assert len(val) == 2 and all(math.isfinite(v) and v > 0 for v in val)


def test_non_finite_batches_are_skipped(tmp_path):
    run = train(tiny_cfg(tmp_path / "run", steps=4, ckpt_every=100), train_set=NaNEvery(n=4, distinct=4))
    ckpt = load_checkpoint(list_checkpoints(run)[-1])
    assert ckpt["step"] == 4 and ckpt["skipped"] >= 1
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values())


def test_ctrl_c_saves_then_stops(tmp_path):
    # Batch 2: the 7th fetch belongs to step 4, so the run stops after completing step 4.
    run = train(tiny_cfg(tmp_path / "run", steps=50, ckpt_every=100), train_set=InterruptAt(7, n=8))
    assert [load_checkpoint(p)["step"] for p in list_checkpoints(run)] == [4]
    assert (run / "model.safetensors").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_config_file_and_override_precedence(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('model = "film_tiny"\nsteps = 7\nbatch_size = 4\ndata = ["a", "b"]\nloss = "VGG"\n')
    cfg = load_train_config(toml, steps=9, batch_size=None)
    assert (cfg.model, cfg.steps, cfg.batch_size, cfg.data, cfg.loss) == ("film_tiny", 9, 4, ("a", "b"), "VGG")
    assert cfg.lr == 1e-4 and cfg.adam_eps == 1e-7 and cfg.lr_decay_rate == 0.464158
    yaml_path = tmp_path / "c.yaml"
    yaml_path.write_text("steps: 11\ncrop: 128\nspacings: [1, 2]\n")
    cfg = load_train_config(yaml_path, crop=64)
    assert (cfg.steps, cfg.crop, cfg.spacings) == (11, 64, (1, 2))
    assert load_train_config(None, steps=3).steps == 3


def test_config_refusals(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("stepz = 3\n")
    with pytest.raises(InputError, match="stepz"):
        load_train_config(bad)
    with pytest.raises(InputError, match="evaluation-only"):
        TrainConfig(data=("../shared/data/middlebury_other",))
    with pytest.raises(InputError, match="loss"):
        TrainConfig(loss="L2")
    (tmp_path / "davis_adacof").mkdir()
    (tmp_path / "innocent").symlink_to(tmp_path / "davis_adacof", target_is_directory=True)
    with pytest.raises(InputError, match="evaluation-only"):
        TrainConfig(data=(str(tmp_path / "innocent"),))


@pytest.mark.parametrize("name", ["film_net-L1", "film_net-VGG", "film_net-Style", "film_lite-cpu"])
def test_shipped_configs_load(name):
    cfg = load_train_config(ROOT / "configs" / f"{name}.toml")
    if name.startswith("film_net"):
        assert (cfg.batch_size, cfg.crop, cfg.steps, cfg.loss) == (8, 256, 3_000_000, name.split("-")[1])


@pytest.mark.slow
def test_ddp_two_cpu_ranks_gloo(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent('''
        import os, sys
        from pathlib import Path
        import torch
        torch.set_num_threads(1)
        sys.path.insert(0, sys.argv[2])
        from helpers import Triplets, tiny_cfg
        from filmnet.train import trainer
        captured = {}
        original_save = trainer.Trainer.save
        def save_and_capture(self):
            original_save(self)
            captured.update({k: v.detach().clone() for k, v in self.model.state_dict().items()})
        trainer.Trainer.save = save_and_capture
        rank = int(os.environ["RANK"])
        base = Path(sys.argv[1])
        # Each rank gets its own out path, so a write by rank 1 would show up as run_rank1/.
        cfg = tiny_cfg(base / f"run_rank{rank}", steps=3, batch_size=4, ckpt_every=100, log_every=1)
        trainer.train(cfg, train_set=Triplets(n=8))
        torch.save(captured, base / f"weights_rank{rank}.pt")
    '''))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path), str(Path(__file__).resolve().parents[1])]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    w0 = torch.load(tmp_path / "weights_rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "weights_rank1.pt", weights_only=True)
    assert w0 and w0.keys() == w1.keys() and all(torch.equal(w0[k], w1[k]) for k in w0)
    torch.manual_seed(0)  # the ranks' shared initial weights (seed 0, broadcast from rank 0 by DDP)
    fresh = FILM("film_tiny").state_dict()
    assert not all(torch.equal(w0[k], fresh[k]) for k in w0)  # training changed something
    run0 = tmp_path / "run_rank0"
    assert (run0 / "model.safetensors").exists() and (run0 / "log.csv").exists()
    assert [load_checkpoint(p)["step"] for p in list_checkpoints(run0)] == [3]
    assert not (tmp_path / "run_rank1").exists()


def test_blend_fusion_init_outputs_the_average_of_the_warped_inputs():
    from filmnet.train.init import init_fusion_as_blend

    torch.manual_seed(0)
    model = init_fusion_as_blend(filmnet.FILM(filmnet.FILMConfig(filters=8, flow_filters=(4, 4, 8, 8))).eval())
    x0, x1 = torch.rand(2, 3, 64, 96), torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        out = model(x0, x1, 0.5)
    expected = 0.5 * (out.x0_warped + out.x1_warped)
    torch.testing.assert_close(out.image, expected, rtol=0, atol=1e-5)
    # and the rest of the decoder still has its random weights
    assert model.fuse.convs[-1][1][0].weight[6:].abs().sum() > 0
    with pytest.raises(ValueError, match="6 fusion filters"):
        init_fusion_as_blend(filmnet.FILM("film_tiny"))


def test_widened_flow_estimator_computes_the_same_flows_and_its_new_channels_can_learn():
    from filmnet.train.init import widen_flow_estimator

    torch.manual_seed(0)
    model = filmnet.FILM(filmnet.FILMConfig(filters=8, flow_filters=(4, 4, 8, 8))).eval()
    wide = widen_flow_estimator(model, (8, 6, 8, 12)).eval()
    assert wide.config.flow_filters == (8, 6, 8, 12) and model.config.flow_filters == (4, 4, 8, 8)
    x0, x1 = torch.rand(1, 3, 64, 96), torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        a, b = model(x0, x1, 0.5), wide(x0, x1, 0.5)
    for key in ("image", "forward_flows"):
        torch.testing.assert_close(getattr(b, key), getattr(a, key), rtol=1e-6, atol=1e-5)  # only summation order differs
    old = {k: v for k, v in model.state_dict().items() if not k.startswith("predict_flow.")}
    assert all(torch.equal(wide.state_dict()[k], v) for k, v in old.items())
    wide.train()
    F.l1_loss(wide(x0, x1, 0.5).image, torch.rand(1, 3, 64, 96)).backward()
    head = wide.predict_flow.predictor(0)._convs[-1][0]  # zero weights from the new channels get gradients
    assert head.weight.grad[:, 2:].abs().sum() > 0
    with pytest.raises(InputError, match="at least"):
        widen_flow_estimator(model, (2, 4, 8, 8))


def test_time_limit_stops_early_and_saves(tmp_path):
    run = train(tiny_cfg(tmp_path / "t", steps=1000, ckpt_every=500, time_limit_minutes=1e-6), train_set=Triplets(n=6))
    final = load_checkpoint(list_checkpoints(run)[-1])
    assert final["step"] == 1  # stopped after the first step, with a checkpoint of it
    assert (run / "model.safetensors").is_file()


def test_fresh_run_into_an_existing_run_is_refused(tmp_path):
    run = train(tiny_cfg(tmp_path / "run", steps=2), train_set=Triplets(n=4))
    before = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and "tb" not in p.parts}
    with pytest.raises(InputError, match="--resume"):
        train(tiny_cfg(tmp_path / "run", steps=4, lr=5e-4), train_set=Triplets(n=4))
    after = {p.relative_to(run): p.read_bytes() for p in run.rglob("*") if p.is_file() and "tb" not in p.parts}
    assert after == before and Path("config.json") in before
    (run / "checkpoints").rename(tmp_path / "moved")  # model.safetensors alone also marks a run
    with pytest.raises(InputError, match="another --out"):
        train(tiny_cfg(tmp_path / "run", steps=4), train_set=Triplets(n=4))
    weights = (run / "model.safetensors").read_bytes()
    with pytest.raises(InputError, match="no checkpoint to resume from.*--init-weights"):
        train(tiny_cfg(tmp_path / "run", steps=4, resume=True), train_set=Triplets(n=4))
    assert (run / "model.safetensors").read_bytes() == weights
    (run / "model.safetensors").unlink()  # an empty folder: --resume just starts
    assert list_checkpoints(train(tiny_cfg(tmp_path / "run", steps=1, resume=True), train_set=Triplets(n=4)))


def test_init_weights_of_another_architecture_is_a_weights_error(tmp_path):
    other = tmp_path / "other.safetensors"
    filmnet.save_model(FILM(FILMConfig(filters=8, flow_filters=(4, 4, 8, 8))), other)
    with pytest.raises(WeightsError, match=r"extract\.extract_sublevels"):
        train(tiny_cfg(tmp_path / "run", init_weights=str(other)), train_set=Triplets(n=4))
    assert not (tmp_path / "run" / "config.json").exists()  # written only once the trainer is built


def test_blend_init_on_a_too_small_model_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="blend"):
        train(tiny_cfg(tmp_path / "run", fusion_init="blend"), train_set=Triplets(n=4))


@pytest.mark.slow
def test_ddp_ranks_agree_on_the_time_limit(tmp_path):
    """Only rank 1's clock runs out (as if it were slower): both ranks must stop after the same step."""
    script = tmp_path / "ddp_limit.py"
    script.write_text(textwrap.dedent('''
        import os, sys
        from pathlib import Path
        import torch
        torch.set_num_threads(1)
        sys.path.insert(0, sys.argv[2])
        from helpers import Triplets, tiny_cfg
        from filmnet.train import trainer
        rank = int(os.environ["RANK"])
        limit = 1e-6 if rank == 1 else None
        cfg = tiny_cfg(Path(sys.argv[1]) / "run", steps=1000, batch_size=4, ckpt_every=1000, log_every=1000,
                       image_every=1000, time_limit_minutes=limit)
        trainer.train(cfg, train_set=Triplets(n=8))
    '''))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(tmp_path), str(Path(__file__).resolve().parents[1])]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert [load_checkpoint(p)["step"] for p in list_checkpoints(tmp_path / "run")] == [1]


def test_trainer_logs_the_warped_input_term_when_weighted(tmp_path):
    run = train(tiny_cfg(tmp_path / "run", steps=2, log_every=1, warped_weight=0.5), train_set=Triplets(n=4))
    rows = [r for r in csv.DictReader((run / "log.csv").open()) if r["loss"]]
    assert rows and all(float(r["l1_warped"]) > 0 for r in rows)
    assert all(float(r["loss"]) > float(r["l1"]) for r in rows)
