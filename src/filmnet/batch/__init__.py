"""`filmnet batch`: retime many videos, or one long one, on local worker processes or a Ray cluster, with the same
output as `filmnet video` on each file. See docs/SCALE.md."""
from .inputs import Item, collect, read_manifest
from .run import BatchResult, BatchSettings, run_batch

__all__ = ["BatchResult", "BatchSettings", "Item", "collect", "read_manifest", "run_batch"]
