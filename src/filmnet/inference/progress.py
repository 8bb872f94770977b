"""Progress bars whose ETA leaves out the warm-up: the first frame pays for loading kernels and allocations
(~20 s on a CPU where later frames take ~1 s), so the bar says "warming up" until it is done and starts timing
after it."""
from __future__ import annotations

from tqdm.auto import tqdm


class WarmupBar(tqdm):
    """A tqdm bar labelled "<desc> (warming up)" until its first step; then its timers restart (`tqdm.reset`),
    so rate and ETA come from the frames after the first. Counts are kept."""

    def __init__(self, *args, desc: str = "", **keywords):
        self.label = desc
        self.warm = False
        super().__init__(*args, desc=f"{desc} (warming up)" if desc else "warming up", **keywords)

    def update(self, n: float = 1):
        if not self.warm and n:
            self.warm = True
            self.set_description_str(self.label, refresh=False)
            self.reset(total=self.total)  # timers restart here: the first frame's warm-up is out of the ETA
        return super().update(n)
