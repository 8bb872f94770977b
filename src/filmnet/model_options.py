"""The model-options group of every command that runs FILM: weights, device, precision, flow, warp mix, tiling.

Each field of `ModelOptions` carries its CLI flag in its metadata (`cli.common.model_options` declares them all
from it), so one more option is one more field. `checked()` parses and validates the group once, before any model
loads or worker starts. Standard library only (torch and the rest are imported when a model is built).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace

from .errors import InputError
from .precision import PRECISIONS

FLOWS = ("auto", "model", "dis", "hybrid")
PADDINGS = ("reflect", "replicate", "zeros")
PYRAMID_LEVELS_HELP = ("Pyramid depth: auto (deeper for larger frames, for large motion) or N levels, from 5 up to "
                       "what the frame size allows (7 = the official depth).")
PADDING_HELP = ("How frames are padded to a multiple of 64: reflect (mirrored; no dark bands at the edges), "
                "replicate (edge pixels), or zeros (the official tools').")
FLOW_HELP = ("Flow source: model (FILM's estimator), dis (OpenCV DIS into FILM's fusion), hybrid (DIS, or FILM's "
             "flows for large motion where they align better), auto (what the weights ask for; the model's own "
             "flows when OpenCV is missing). dis and hybrid need OpenCV: pip install \"filmnet[dis]\".")
WARP_MIX_HELP = ("On pairs fused on DIS flows with under 8 px of motion, move the output this share (0-1) towards "
                 "the time-weighted average of the two warped inputs. Default: what the weights ask for, else 0.")
MODEL_HELP = ("Named model (see `filmnet models`), fetched and cached on first use. Default: film_net if cached or "
              "fetchable, else the bundled film_lite.")


_NOT_INTERPOLATOR_KEYWORDS = ("model", "weights", "max_memory", "tile", "tile_overlap")  # given as weights/tiling


def _flag(default, help: str, kind: type = str, **cli):
    """A field of `ModelOptions` with its CLI flag: `--{name}` of type `kind`; `cli`: choices, or the name in
    `filmnet.bounds` of its range (`limits`: shown in --help by Typer; `bound`: checked with its reason)."""
    return field(default=default, metadata=dict(help=help, kind=kind, **cli))


@dataclass(frozen=True)
class ModelOptions:
    """How a command's model runs (one field per CLI flag; a new option is one more field).

    model / weights: a named model or a weights path (not both; neither: the default model). device: cpu, cuda or
    cuda:N (None: the runner's default). precision, flow, warp_mix: see `Interpolator`. max_memory, tile,
    tile_overlap: the CLI's words for `TilingOptions` (`--max-memory 8GB`, `--tile 512x512`).
    """

    model: str | None = _flag(None, MODEL_HELP)
    weights: str | None = _flag(None, "Weights file or folder (instead of --model).", kind="path")
    device: str | None = _flag("cpu", "cpu, cuda or cuda:N.")
    precision: str = _flag("auto", "Compute precision.", choices=PRECISIONS)
    flow: str = _flag("auto", FLOW_HELP, choices=FLOWS)
    warp_mix: float | None = _flag(None, WARP_MIX_HELP, float, limits="warp_mix")
    max_memory: str = _flag("auto", "Memory budget, e.g. 8GB; larger frames are tiled. auto: what is free; none: "
                            "never tile.")
    tile: str | None = _flag(None, "Force tiles of HxW pixels (multiples of 64), e.g. 512x512.")
    tile_overlap: int | None = _flag(None, "Unused: tiles see the whole frame and are exact (kept for compatibility; multiple of 64).", int, bound="tile_overlap")
    pyramid_levels: str = _flag("auto", PYRAMID_LEVELS_HELP)
    padding: str = _flag("reflect", PADDING_HELP, choices=PADDINGS)

    def checked(self) -> ModelOptions:
        """These options with every rule checked (`InputError`, one line, before any model loads or worker
        starts); the parsed `tiling` is kept with them."""
        from .bounds import check
        from .inference.memory import TilingOptions

        if self.model is not None and self.weights is not None:
            raise InputError("give --model NAME or --weights PATH, not both")
        for name in ("precision", "flow", "padding"):
            choices = fields_of()[name].metadata["choices"]
            if getattr(self, name) not in choices:
                raise InputError(f"--{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        check("warp_mix", self.warp_mix)
        from .inference.depth import parse_pyramid_levels

        object.__setattr__(self, "pyramid_levels", str(parse_pyramid_levels(self.pyramid_levels)))
        check("tile_overlap", self.tile_overlap)
        tiling = TilingOptions.from_text(self.max_memory, self.tile, self.tile_overlap).checked()
        object.__setattr__(self, "_tiling", tiling)
        return self

    @property
    def tiling(self):
        """The parsed `TilingOptions` (parsed by `checked()`, once)."""
        if "_tiling" not in self.__dict__:
            self.checked()
        return self.__dict__["_tiling"]

    def weights_arg(self):
        """The weights argument of `Interpolator`: --model NAME's file, --weights PATH, or None (the default)."""
        if self.model is not None:
            from .weights.hub import model_path

            return model_path(self.model)
        return self.weights

    def pinned(self) -> ModelOptions:
        """The same options naming the weights file itself (resolved once here, so every worker loads it)."""
        from .weights.hub import resolve_weights

        return replace(self, model=None, weights=str(resolve_weights(self.weights_arg()))).checked()

    def interpolator(self, **overrides):
        """The `Interpolator` of these options (`overrides`: its keywords, e.g. a device)."""
        from .inference import Interpolator

        kwargs = {k: v for k, v in asdict(self).items() if k not in _NOT_INTERPOLATOR_KEYWORDS}  # a new field too
        kwargs.update(device=self.device or "cpu", tiling=self.tiling)
        return Interpolator(self.weights_arg(), **dict(kwargs, **overrides))

    def key(self) -> dict:
        """The options as plain values (no `model`: `pinned()` names the file), e.g. for a job key."""
        return {k: v for k, v in asdict(self).items() if k != "model"}


def fields_of() -> dict:
    """`ModelOptions` fields by name."""
    return {f.name: f for f in fields(ModelOptions)}
