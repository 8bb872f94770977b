"""FILM architecture configs: a frozen dataclass and a registry of named entries."""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..errors import UnknownConfigError


@dataclass(frozen=True)
class FILMConfig:
    """Hyper-parameters of the FILM network (names follow the official gin options)."""

    pyramid_levels: int = 7
    fusion_pyramid_levels: int = 5
    specialized_levels: int = 3
    sub_levels: int = 4
    filters: int = 64
    flow_convs: tuple[int, ...] = (3, 3, 3, 3)
    flow_filters: tuple[int, ...] = (32, 64, 128, 256)

    def __post_init__(self) -> None:
        object.__setattr__(self, "flow_convs", tuple(int(v) for v in self.flow_convs))
        object.__setattr__(self, "flow_filters", tuple(int(v) for v in self.flow_filters))
        n = self.specialized_levels + 1
        if len(self.flow_convs) != n or len(self.flow_filters) != n:
            raise ValueError(f"flow_convs and flow_filters need specialized_levels+1 = {n} entries")
        if not 1 <= self.sub_levels <= self.pyramid_levels:
            raise ValueError("sub_levels must be in [1, pyramid_levels]")
        if self.specialized_levels < self.sub_levels - 1:
            raise ValueError("specialized_levels must be >= sub_levels - 1 so the shared predictor sees a fixed width")
        if not 2 <= self.fusion_pyramid_levels <= self.pyramid_levels:
            raise ValueError("fusion_pyramid_levels must be in [2, pyramid_levels]")

    @property
    def min_size(self) -> int:
        """Smallest legal input height/width: the coarsest pyramid level must be >= 1 pixel."""
        return 2 ** (self.pyramid_levels - 1)

    @property
    def min_pyramid_levels(self) -> int:
        """The shallowest runtime pyramid these weights support: the fusion needs features and flows on its levels."""
        return self.fusion_pyramid_levels

    def feature_channels(self, level: int) -> int:
        """Per-image channels of the scale-agnostic feature pyramid at `level`."""
        return sum(self.filters << j for j in range(min(level, self.sub_levels - 1) + 1))

    def fusion_filters(self, level: int) -> int:
        return self.filters << min(level, self.specialized_levels)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["flow_convs"] = list(self.flow_convs)
        d["flow_filters"] = list(self.flow_filters)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "FILMConfig":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


CONFIGS: dict[str, FILMConfig] = {}


def register_config(name: str, config: FILMConfig) -> FILMConfig:
    if name in CONFIGS:
        raise ValueError(f"config {name!r} is already registered")
    CONFIGS[name] = config
    return config


def get_config(name: str) -> FILMConfig:
    try:
        return CONFIGS[name]
    except KeyError:
        raise UnknownConfigError(f"unknown config {name!r}; known: {', '.join(sorted(CONFIGS))}") from None


# The released models (film_net-{L1,VGG,Style}.gin).
register_config("film_net", FILMConfig())
# The golden-fixture model: same structure, tiny widths (../shared/fixtures/official_film/tiny).
register_config("film_tiny", FILMConfig(filters=4, flow_filters=(4, 4, 8, 8)))
# CPU-friendly variant shipped as the default model: same design, 7 levels, a quarter of the channels.
register_config("film_lite", FILMConfig(filters=16, flow_filters=(16, 32, 64, 96)))
