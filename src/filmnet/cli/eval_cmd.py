"""`filmnet eval`: benchmark scores for weights and baselines."""
from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from .common import Flow, app, fail, friendly_errors, model_option, model_options

class Method(str, Enum):
    blend = "blend"
    dis = "dis"


@app.command("eval")
@friendly_errors
@model_options("precision", "warp_mix", "device", "pyramid_levels", "padding", precision=dict(default="fp32", help="Precision for model weights."))
def eval_(
    data: list[Path] = typer.Option(..., "--data", help="Evaluation folder (repeatable): triplet folders, found "
                                    "recursively, each holding im1.png, im3.png -> im2.png (Vimeo-90K), frame10.png, "
                                    "frame11.png -> frame10i11.png (Middlebury, DAVIS) or frame_00.png, frame_02.png "
                                    "-> frame_01_gt.png (UCF101); or a Vimeo root with tri_testlist.txt."),
    model: Optional[list[str]] = model_option("Named model to evaluate (repeatable; see `filmnet models`)."),
    weights: Optional[list[Path]] = typer.Option(None, "--weights", help="Weights to evaluate (repeatable)."),
    method: Optional[list[Method]] = typer.Option(None, "--method", help="Baseline: blend or dis (repeatable)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the summary JSON here."),
    csv_path: Optional[Path] = typer.Option(None, "--csv", help="Write per-triplet rows here."),
    flow: list[Flow] = typer.Option([Flow.auto], "--flow",
                                    help="Flow source(s) for each --weights (repeatable: one result per source)."),
    float_prediction: bool = typer.Option(False, "--float-prediction",
                                          help="Score the float prediction instead of the 8-bit one."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing --json/--csv file."),
    model_options=None,
) -> None:
    """Score weights and/or baselines on benchmark triplets (PSNR, SSIM, Middlebury IE).

    Each triplet is two input frames and the true middle frame (t = 0.5), in one of the layouts --data names;
    Middlebury's split layout (other-data/ + other-gt-interp/) and input/ + gt/ folders work too.
    """
    from ..eval import evaluate, format_table, save_results
    from ..inference import Interpolator

    if not weights and not method and not model:
        fail("give --model NAME, --weights W and/or --method blend|dis")
    if model and weights:
        fail("give --model NAME or --weights PATH, not both")
    _check_reports(json_path, csv_path, [*data, *(weights or [])], force)
    runners = []
    sources = list(dict.fromkeys(f.value for f in flow))
    several = len(sources) > 1
    for name, w in _labelled_weights(model or [], weights or []):
        for source in sources:
            m = model_options
            interp = Interpolator(w, device=m.device, precision=m.precision, max_memory=None, flow=source,
                                  warp_mix=m.warp_mix, pyramid_levels=m.pyramid_levels, padding=m.padding)
            interp.name = f"filmnet:{name}" + (f":{interp.flow}" if several or interp.flow_source.uses_dis else "")
            if interp.warp_mix:  # only DIS sources apply a mix
                interp.name += f"+mix{interp.warp_mix:g}"
            runners.append((interp, None))
    runners += [(None, m.value) for m in method or []]
    results = [evaluate(d, model=m, method=b, precision=model_options.precision, quantize=not float_prediction)
               for d in data for m, b in runners]
    typer.echo(format_table(results))
    save_results(results, json_path=json_path, csv_path=csv_path)


def _labelled_weights(models: list[str], paths: list[Path]) -> list[tuple[str, Path]]:
    """(label, file) per --model (labelled by its name) and per --weights (by its stem)."""
    from ..weights.hub import model_path, resolve_name

    names = list(dict.fromkeys(resolve_name(m).name for m in models))
    return [(n, model_path(n)) for n in names] + list(zip(_unique_names(paths), paths))


def _unique_names(paths: list[Path]) -> list[str]:
    """Short labels for weights files: the stem, or parent/stem where stems clash (every run has model.safetensors)."""
    stems = [p.stem for p in paths]
    names = [f"{p.parent.name}/{p.stem}" if stems.count(p.stem) > 1 else p.stem for p in paths]
    return [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]


def _check_reports(json_path: Optional[Path], csv_path: Optional[Path], inputs: list[Path], force: bool) -> None:
    """Before any scoring: reports never land on a data set or weights file, nor on each other."""
    from ..io.guard import check_new_output

    if json_path is not None and csv_path is not None and json_path.resolve() == csv_path.resolve():
        fail("--json and --csv name the same file; give two paths")
    for flag, path in (("--json", json_path), ("--csv", csv_path)):
        if path is not None:
            check_new_output(path, inputs, force=force, what=f"{flag} report")
