"""`warp_mix`: on pairs fused on DIS flows, the output moved a share towards the average of the two warped inputs."""
import numpy as np
import pytest
import torch

import filmnet
from filmnet.weights.hub import resolve_weights
from filmnet.flows import flow_source_for
from filmnet.flows.dis import HYBRID_MOTION, apply_warp_mix, check_warp_mix, fusion_flows, select_flows
from filmnet.model.film import FILMOutput, PairFlows
from helpers import constant_flows, nchw, shifted_pair, tiny_model

pytest.importorskip("cv2")


def fake_output(batch: int = 2) -> FILMOutput:
    g = torch.Generator().manual_seed(0)
    return FILMOutput(*(torch.rand(batch, 3, 8, 8, generator=g) for _ in ("image", "x0_warped", "x1_warped")))


def test_share_moves_only_small_motion_dis_pairs_towards_the_time_weighted_warp_average():
    out = fake_output()
    flows = fusion_flows(torch.zeros(2, 2, 8, 8), torch.zeros(2, 2, 8, 8), 1)
    assert flows.motion.tolist() == [0.0, 0.0]
    t = torch.tensor([0.5, 0.25])
    assert apply_warp_mix(out, flows, t, 0.0) is out.image
    full = apply_warp_mix(out, flows, t, 1.0)
    for k, tk in enumerate(t.tolist()):
        torch.testing.assert_close(full[k], (1 - tk) * out.x0_warped[k] + tk * out.x1_warped[k])
    quarter = apply_warp_mix(out, flows, t, 0.25)
    torch.testing.assert_close(quarter, 0.75 * out.image + 0.25 * full)
    flows.motion = torch.tensor([float("nan"), 0.0])  # pair 0 fused on the model's own flows
    mixed = apply_warp_mix(out, flows, t, 0.25)
    assert torch.equal(mixed[0], out.image[0]) and torch.equal(mixed[1], quarter[1])
    own = PairFlows([], [], flows.forward, flows.backward)  # the model's flows carry no DIS motion
    assert apply_warp_mix(out, own, t, 0.25) is out.image
    moving = torch.zeros(2, 2, 8, 8)
    moving[0, 0] = HYBRID_MOTION  # pair 0 moves HYBRID_MOTION px: too much to mix
    large = fusion_flows(moving, -moving, 1)
    mixed = apply_warp_mix(out, large, t, 0.25)
    assert torch.equal(mixed[0], out.image[0]) and torch.equal(mixed[1], quarter[1])


def test_hybrid_marks_the_pairs_that_keep_dis_flows():
    shift = 12
    assert shift >= HYBRID_MOTION
    f0, f1 = shifted_pair(64, 128, shift)
    x0, x1 = torch.cat([nchw(f0)] * 2), torch.cat([nchw(f1)] * 2)
    dis = constant_flows([float(shift), shift + 9.0], 64, 128)
    own = constant_flows([shift - 9.0, float(shift)], 64, 128)
    motion = select_flows(x0, x1, dis, lambda: own).motion
    assert motion[0] == dis.motion[0] and bool(motion[1].isnan())


def test_motion_is_measured_inside_the_frame_not_on_the_padding():
    flow = torch.zeros(1, 2, 16, 16)
    flow[..., :4] = 100.0  # a wild padded border, still frame inside
    assert fusion_flows(flow, -flow, 1).motion.item() > HYBRID_MOTION
    assert fusion_flows(flow, -flow, 1, padding=(4, 0, 0, 0)).motion.item() == 0.0


def test_share_comes_from_the_argument_or_the_weights_metadata(tmp_path):
    assert flow_source_for(tiny_model(), "dis").warp_mix == 0.0
    assert flow_source_for(tiny_model(), "dis", 0.3).warp_mix == 0.3
    plain = filmnet.save_model(tiny_model(), tmp_path / "plain.safetensors")
    assert filmnet.Interpolator(plain).warp_mix == 0.0
    asks = filmnet.save_model(tiny_model(), tmp_path / "asks.safetensors", metadata={"flow": "dis", "warp_mix": "0.4"})
    assert filmnet.Interpolator(asks).warp_mix == 0.4
    assert filmnet.Interpolator(asks, warp_mix=0.0).warp_mix == 0.0
    assert filmnet.Interpolator(asks, flow="model").warp_mix == 0.0  # only DIS sources apply a mix
    for value in ("half", "1.5"):
        bad = filmnet.save_model(tiny_model(), tmp_path / f"bad{value}.safetensors", metadata={"warp_mix": value})
        with pytest.raises(filmnet.InputError, match="warp_mix"):
            filmnet.Interpolator(bad)
    with pytest.raises(filmnet.InputError, match=r"warp_mix is a share in \[0, 1\]"):
        check_warp_mix(-0.1)


def test_interpolator_mixes_dis_pairs_untiled_and_tiled_but_never_the_models_flows():
    model = filmnet.load_model(resolve_weights(None))
    f0, f1 = shifted_pair(128, 192, 4)

    def run(flow, mix, **kw):
        return filmnet.Interpolator(model, precision="fp32", flow=flow, warp_mix=mix, **kw).interpolate(f0, f1)

    plain, mixed = run("dis", 0.0, max_memory=None), run("dis", 0.5, max_memory=None)
    assert float(np.abs(mixed - plain).mean()) > 1e-4
    interp = filmnet.Interpolator(model, precision="fp32", flow="dis", max_memory=None)
    with torch.inference_mode():
        e0, e1 = interp.runner.encode(nchw(f0)), interp.runner.encode(nchw(f1))
        flows = interp.runner.flows(e0, e1)
        out = model.synthesize(e0, e1, flows, torch.tensor([0.5]))
    average = 0.5 * (out.x0_warped + out.x1_warped)
    expected = (0.5 * out.image + 0.5 * average)[0].clamp(0, 1).permute(1, 2, 0).numpy()
    np.testing.assert_allclose(mixed, expected, atol=1e-5)
    from filmnet.flows import DisFlows
    from filmnet.inference import interpolate_tiled
    from filmnet.inference.pair import PairRunner

    def tiled(tile, mix):
        with torch.inference_mode():
            y = interpolate_tiled(PairRunner(model, DisFlows(mix)), nchw(f0), nchw(f1), 0.5, tile=tile, overlap=64)
        return y[0].clamp(0, 1).permute(1, 2, 0).numpy()

    np.testing.assert_allclose(tiled((128, 192), 0.5), mixed, atol=1e-5)  # one tile: the untiled result
    two = tiled((128, 128), 0.5)
    assert float(np.abs(two - mixed).mean()) < 2e-3
    assert float(np.abs(two - tiled((128, 128), 0.0)).mean()) > 1e-4  # the tiles are mixed too
    assert np.array_equal(run("model", 0.5, max_memory=None), run("model", 0.0, max_memory=None))


def test_cli_takes_warp_mix_and_refuses_a_share_outside_0_1(tmp_path, capsys):
    from PIL import Image

    from filmnet.cli import main

    weights = filmnet.save_model(tiny_model(), tmp_path / "tiny.safetensors")
    paths = []
    for i, f in enumerate(shifted_pair(64, 64, 2)):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray((f * 255).round().astype(np.uint8)).save(paths[-1])
    common = [*map(str, paths), "--exp", "1", "--weights", str(weights), "--flow", "dis"]
    assert main(["interpolate", *common, "-o", str(tmp_path / "bad"), "--warp-mix", "2"]) == 2
    assert "--warp-mix" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    folders = {mix: tmp_path / f"mix{mix}".replace(".", "") for mix in ("0", "0.5")}  # "0.5" would read as a file
    for mix, folder in folders.items():
        assert main(["interpolate", *common, "-o", str(folder), "--warp-mix", mix]) == 0
    frames = [np.asarray(Image.open(folder / "000001.png")) for folder in folders.values()]
    assert not np.array_equal(*frames)


def test_the_bundled_model_asks_for_the_share_its_model_card_reports():
    interp = filmnet.Interpolator()
    assert (interp.flow, interp.warp_mix) == ("hybrid", 0.25)
