"""Flow sources: the model's own flows, or OpenCV DIS flows fed to FILM's fusion (`Interpolator(flow=...)`)."""
import json

import numpy as np
import pytest
import torch

import filmnet
from filmnet.weights.hub import resolve_weights
from filmnet.cli import main
from filmnet.flows import flow_source_for
from filmnet.flows.dis import (FUSION_DIS_FINEST_SCALE, HYBRID_MOTION, dis_flow_fields, dis_flows, flow_levels,
                               fusion_dis_flows, select_flows)
from filmnet.flows.factory import check_flow, recommended_flow
from filmnet.model.film import PairFlows
from helpers import constant_flows, nchw, shifted_pair, tiny_model

pytest.importorskip("cv2")


def test_unknown_flow_source_is_refused():
    with pytest.raises(filmnet.InputError, match="unknown flow source 'raft'"):
        check_flow("raft")
    with pytest.raises(filmnet.InputError, match="unknown flow source"):
        filmnet.Interpolator(tiny_model(), flow="raft")


def test_auto_follows_the_weights_metadata(tmp_path):
    assert recommended_flow(None) == "hybrid"  # the bundled film_lite asks for DIS flows, or its own on large motion
    assert filmnet.Interpolator().flow == "hybrid"
    assert filmnet.Interpolator(flow="model").flow == "model"
    assert recommended_flow(tiny_model()) == "model"
    plain = filmnet.save_model(tiny_model(), tmp_path / "plain.safetensors")
    assert flow_source_for(plain, "auto").name == "model" and flow_source_for(plain, "dis").name == "dis"
    asks = filmnet.save_model(tiny_model(), tmp_path / "asks.safetensors", metadata={"flow": "dis"})
    assert filmnet.Interpolator(asks).flow == "dis"
    bad = filmnet.save_model(tiny_model(), tmp_path / "bad.safetensors", metadata={"flow": "sideways"})
    with pytest.raises(filmnet.InputError, match="flow='sideways'"):
        filmnet.Interpolator(bad)


def test_dis_fields_find_a_shift_and_ignore_the_padding():
    f0, f1 = shifted_pair(96, 160, 6)
    x0, x1 = nchw(f0), nchw(f1)
    f01, f10 = dis_flow_fields(x0, x1)
    inner = (slice(None), slice(None), slice(16, -16), slice(16, -16))
    assert f01.shape == (1, 2, 96, 160) and f01.dtype == torch.float32
    assert f01[:, 0][inner[1:]].median() == pytest.approx(6, abs=0.3)
    assert f10[:, 0][inner[1:]].median() == pytest.approx(-6, abs=0.3)
    assert f01[:, 1][inner[1:]].abs().median() < 0.3
    padding = (10, 22, 3, 29)  # left, right, top, bottom
    p0, p1 = (torch.nn.functional.pad(x, padding) for x in (x0, x1))
    g01, g10 = dis_flow_fields(p0, p1, padding)
    assert g01.shape == (1, 2, 128, 192)
    assert torch.equal(g01[..., 3:99, 10:170], f01) and torch.equal(g10[..., 3:99, 10:170], f10)
    assert torch.equal(g01[..., :3, 10:170], f01[..., :1, :].expand(-1, -1, 3, -1))  # edge-replicated
    assert torch.equal(g01[..., 3:99, 170:], f01[..., -1:].expand(-1, -1, -1, 22))


def test_fusion_flows_are_dis_refined_to_full_resolution():
    """The fusion gets DIS refined down to the full-resolution grid; the `dis` baseline keeps MEDIUM's half grid."""
    assert FUSION_DIS_FINEST_SCALE == 0
    f0, f1 = shifted_pair(96, 160, 3)
    full, half = fusion_dis_flows(f0, f1), dis_flows(f0, f1)
    np.testing.assert_array_equal(full[0], dis_flows(f0, f1, finest_scale=0)[0])
    assert not np.array_equal(full[0], half[0])
    fields = dis_flow_fields(nchw(f0), nchw(f1))
    np.testing.assert_array_equal(fields[0][0].permute(1, 2, 0).numpy(), full[0])


def test_flow_levels_are_area_downsampled_in_each_levels_pixels():
    flow = torch.full((1, 2, 64, 64), 8.0)
    levels = flow_levels(flow, 4)
    assert [tuple(f.shape[-2:]) for f in levels] == [(64, 64), (32, 32), (16, 16), (8, 8)]
    assert [float(f.mean()) for f in levels] == [8.0, 4.0, 2.0, 1.0]


def test_dis_interpolator_is_the_fusion_fed_dis_flows():
    model = filmnet.load_model(resolve_weights(None))
    f0, f1 = shifted_pair(128, 192, 8)  # multiples of 64: no padding
    via_interp = filmnet.Interpolator(model, precision="fp32", flow="dis", max_memory=None).interpolate(f0, f1)
    a, b = fusion_dis_flows(f0, f1)
    levels = model.config.fusion_pyramid_levels
    flows = PairFlows([], [], flow_levels(torch.from_numpy(a).permute(2, 0, 1)[None], levels),
                      flow_levels(torch.from_numpy(b).permute(2, 0, 1)[None], levels))
    with torch.inference_mode():
        e0, e1 = model.encode(nchw(f0)), model.encode(nchw(f1))
        direct = model.synthesize(e0, e1, flows, torch.tensor([0.5])).image
    np.testing.assert_allclose(via_interp, direct[0].clamp(0, 1).permute(1, 2, 0).numpy(), atol=1e-5)
    own = filmnet.Interpolator(model, precision="fp32", flow="model", max_memory=None).interpolate(f0, f1)
    assert np.abs(own - via_interp).max() > 1e-3  # the two sources really differ


def test_dis_flows_on_padded_frames_match_dis_on_the_frame_itself():
    """A 100x150 frame is padded to 128x192; DIS must see the frame, not the zero border."""
    model = filmnet.load_model(resolve_weights(None))
    f0, f1 = shifted_pair(100, 150, 5)
    interp = filmnet.Interpolator(model, precision="fp32", flow="dis", max_memory=None)
    x = torch.nn.functional.pad(nchw(f0), (21, 21, 14, 14))
    y = torch.nn.functional.pad(nchw(f1), (21, 21, 14, 14))
    e0, e1 = interp.runner.encode(x), interp.runner.encode(y)
    flows = interp.runner.flows(e0, e1, padding=(21, 21, 14, 14))
    a, _ = fusion_dis_flows(f0, f1)
    assert torch.equal(flows.forward[0][0, :, 14:114, 21:171], torch.from_numpy(a).permute(2, 0, 1))
    out = interp.interpolate(f0, f1)
    assert out.shape == (100, 150, 3)


def test_dis_tiles_use_whole_frame_flows():
    model = filmnet.load_model(resolve_weights(None))
    f0, f1 = shifted_pair(192, 320, 6)
    whole = filmnet.Interpolator(model, precision="fp32", flow="dis", max_memory=None).interpolate(f0, f1)
    tiled_interp = filmnet.Interpolator(model, precision="fp32", flow="dis", tile=(128, 192), overlap=64)
    tiled = tiled_interp.interpolate(f0, f1)
    assert tiled_interp.last_tiling is not None
    np.testing.assert_allclose(tiled, whole, atol=1e-4)  # tiles see the whole frame: equal to untiled
    single = filmnet.Interpolator(model, precision="fp32", flow="dis", tile=(192, 320), overlap=64).interpolate(f0, f1)
    np.testing.assert_allclose(single, whole, atol=1e-5)


@pytest.mark.slow
def test_eval_scores_each_flow_source(tmp_path, data_dir, capsys):
    weights = filmnet.save_model(filmnet.load_model(resolve_weights(None)), tmp_path / "lite.safetensors")
    js = tmp_path / "r.json"
    code = main(["eval", "--data", str(data_dir / "middlebury_other" / "Grove2"), "--weights", str(weights), "--flow", "model", "--flow", "dis",
                 "--json", str(js)])
    assert code == 0, capsys.readouterr().err
    results = json.loads(js.read_text())["results"]
    assert [r["method"] for r in results] == ["filmnet:lite:model", "filmnet:lite:dis"]
    assert results[0]["psnr"] != results[1]["psnr"]


def test_hybrid_keeps_dis_for_small_motion_without_running_the_model():
    x = torch.rand(2, 3, 64, 64)

    def own():
        raise AssertionError("the model's flows must not be computed below HYBRID_MOTION")

    dis = constant_flows([HYBRID_MOTION - 1, 0.0], 64, 64)
    assert select_flows(x, x, dis, own) is dis


def test_hybrid_picks_per_pair_the_flows_that_align_the_inputs():
    shift = 12  # >= HYBRID_MOTION
    f0, f1 = shifted_pair(64, 128, shift)
    pair = nchw(f0), nchw(f1)
    x0, x1 = torch.cat([pair[0], pair[0]]), torch.cat([pair[1], pair[1]])
    right = [float(shift), float(shift)]
    # pair 0: "DIS" is right and "own" is wrong; pair 1: the other way round
    dis = constant_flows([right[0], shift + 9.0], 64, 128)
    own = constant_flows([shift - 9.0, right[1]], 64, 128)
    chosen = select_flows(x0, x1, dis, lambda: own)
    assert [float(f[0, 0].mean()) for f in chosen.forward[0]] == [shift, shift]
    assert all(torch.equal(c[1], o[1]) and torch.equal(c[0], d[0])
               for c, o, d in zip(chosen.backward, own.backward, dis.backward))


def test_hybrid_interpolator_matches_dis_or_model_output():
    model = filmnet.load_model(resolve_weights(None))
    outputs = {f: filmnet.Interpolator(model, precision="fp32", flow=f, max_memory=None)
               for f in ("model", "dis", "hybrid")}
    small = shifted_pair(128, 192, 3)
    assert np.array_equal(outputs["hybrid"].interpolate(*small), outputs["dis"].interpolate(*small))
    large = shifted_pair(128, 192, 20)
    hybrid = outputs["hybrid"].interpolate(*large)
    assert any(np.array_equal(hybrid, outputs[f].interpolate(*large)) for f in ("model", "dis"))
    tiled = filmnet.Interpolator(model, precision="fp32", flow="hybrid", tile=(128, 128), overlap=64)
    tiled = tiled.interpolate(*large)
    assert tiled.shape == hybrid.shape and float(np.abs(tiled - hybrid).mean()) < 0.02


def test_tiled_interpolation_takes_a_resolved_flow_source():
    from filmnet.flows import get_flow_source
    from filmnet.inference import interpolate_tiled
    from filmnet.inference.pair import PairRunner

    model = filmnet.load_model(resolve_weights(None))
    f0, f1 = shifted_pair(128, 192, 8)
    x0, x1 = nchw(f0), nchw(f1)
    runner = PairRunner(model, get_flow_source("dis", warp_mix=0.0))
    dis = interpolate_tiled(runner, x0, x1, tile=(64, 64), overlap=0)
    own = interpolate_tiled(model, x0, x1, tile=(64, 64), overlap=0)  # a bare model: its own flows
    assert dis.shape == own.shape == (1, 3, 128, 192) and float((dis - own).abs().max()) > 1e-3
    with pytest.raises(filmnet.InputError, match="unknown flow source 'auto-ish'"):
        get_flow_source("auto-ish")
