"""Official FILM SavedModel weights without TensorFlow: TF variable names -> arrays -> our state_dict."""
from __future__ import annotations

import re
from collections import deque
from pathlib import Path

import numpy as np
import torch

from ..errors import ChecksumError, WeightsError
from .tf_bundle import TensorBundle, proto
from .tf_names import LayerCounts, tf_name_to_key, tf_to_torch_array

_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
_MODEL_SCOPES = ("feat_net/", "predict_flow/", "fusion/")


def resolve_paths(path: str | Path) -> tuple[Path, Path | None]:
    """(checkpoint prefix, saved_model.pb or None) for a SavedModel folder, `variables/` folder, `.index` or prefix."""
    path = Path(path)
    if path.is_dir():
        if (path / "saved_model.pb").is_file() or (path / "variables").is_dir():
            prefix = path / "variables" / "variables"
        elif (path / "variables.index").is_file():
            prefix = path / "variables"
        else:
            raise WeightsError(
                f"{path}: unknown layout; expected a SavedModel folder (saved_model.pb + variables/) "
                "or a variables/ folder holding variables.index"
            )
    else:
        prefix = Path(str(path).removesuffix(".index"))
    index = Path(f"{prefix}.index")
    if not index.is_file():
        raise WeightsError(f"checkpoint index not found: {index}")
    pb = prefix.parent.parent / "saved_model.pb"
    return prefix, pb if prefix.parent.name == "variables" and pb.is_file() else None


def names_from_saved_model(pb: Path) -> dict[str, str]:
    """Checkpoint key -> TF variable name, from the SavedObjectGraph (first breadth-first path, as TF saves)."""
    from google.protobuf.message import DecodeError

    try:
        saved_model = proto("SavedModel").FromString(pb.read_bytes())
    except DecodeError as err:
        raise WeightsError(f"{pb} is not a readable SavedModel protobuf ({err}); the file may be truncated") from None
    graphs = [m.object_graph_def for m in saved_model.meta_graphs if m.object_graph_def.nodes]
    if not graphs:
        raise WeightsError(f"{pb}: the SavedModel has no object graph, so variable names cannot be read")
    nodes, names = graphs[0].nodes, {}
    seen, queue = {0}, deque([(0, "")])
    while queue:
        node_id, path = queue.popleft()
        node = nodes[node_id]
        if node.WhichOneof("kind") == "variable" and node.variable.name:
            names[path + _VALUE_SUFFIX] = node.variable.name.removesuffix(":0")
        for child in node.children:
            if child.node_id not in seen:
                seen.add(child.node_id)
                local = child.local_name.replace(".", "..").replace("/", ".S")
                queue.append((child.node_id, f"{path}/{local}" if path else local))
    return names


def names_from_object_graph(bundle: TensorBundle) -> dict[str, str]:
    """Checkpoint key -> TF variable name from the bundle's `_CHECKPOINTABLE_OBJECT_GRAPH` ({} if unusable)."""
    from google.protobuf.message import DecodeError
    from tensorboard.compat.proto.trackable_object_graph_pb2 import TrackableObjectGraph

    if _OBJECT_GRAPH_KEY not in bundle.entries:
        return {}
    try:
        graph = TrackableObjectGraph.FromString(bundle.read(_OBJECT_GRAPH_KEY)[0])
    except (DecodeError, IndexError):
        return {}
    return {a.checkpoint_key: a.full_name.removesuffix(":0") for n in graph.nodes for a in n.attributes if a.full_name}


def read_savedmodel(path: str | Path, verify_checksums: bool = True) -> dict[str, np.ndarray]:
    """TF variable name (e.g. `feat_net/sub_extractor/cfeat_conv_0/kernel`) -> array as stored (kernels HWIO).

    Names come from saved_model.pb, else the data file's object graph, else the keys themselves (TF1
    name-based checkpoints). Optimizer slots are skipped.
    """
    prefix, pb = resolve_paths(path)
    bundle = TensorBundle.open(prefix, verify_checksums)
    keys = [k for k in bundle.keys() if k != _OBJECT_GRAPH_KEY and "/.OPTIMIZER_SLOT/" not in k]
    bundle.check_extent(keys)
    names = names_from_saved_model(pb) if pb else names_from_object_graph(bundle)
    if not names and not any(k.endswith(_VALUE_SUFFIX) for k in keys):
        names = {k: k for k in keys}
    unresolved = [k for k in keys if k not in names]
    if unresolved:
        source = f"{pb}" if pb else f"{bundle.shards[0]} (_CHECKPOINTABLE_OBJECT_GRAPH)"
        raise WeightsError(
            f"cannot resolve TF variable names for {len(unresolved)} checkpoint keys (e.g. {unresolved[0]!r}) "
            f"from {source}; place the SavedModel's saved_model.pb beside the variables/ folder"
        )
    return {names[k]: _read_named(bundle, k, names[k]) for k in keys}


def _read_named(bundle: TensorBundle, key: str, name: str) -> np.ndarray:
    try:
        return bundle.read(key)
    except ChecksumError as err:
        raise ChecksumError(f"{name} ({err}); pass verify_checksums=False (CLI: --no-verify) to load anyway") from None


def infer_layer_counts(names: list[str]) -> LayerCounts:
    """(specialized_levels, fusion_pyramid_levels) from the flow predictor and fusion conv names."""
    specialized = {m[1] for n in names if (m := re.search(r"flow_predictor_(\d+)/", n))}
    fusion = {m[1] or "0" for n in names if (m := re.search(r"fusion/conv2d(?:_(\d+))?/", n))}
    if not specialized or not fusion or (len(fusion) - 1) % 3:
        raise WeightsError(
            f"cannot infer the FILM structure: {len(specialized)} specialised flow predictors and "
            f"{len(fusion)} fusion convs (expected 3*(fusion_levels-1)+1)"
        )
    return LayerCounts(len(specialized), (len(fusion) - 1) // 3 + 1)


def savedmodel_state_dict(
    path: str | Path,
    *,
    specialized_levels: int | None = None,
    fusion_pyramid_levels: int | None = None,
    verify_checksums: bool = True,
) -> dict[str, torch.Tensor]:
    """Our state_dict (OIHW kernels) from an official SavedModel/checkpoint; non-model variables are ignored."""
    arrays = read_savedmodel(path, verify_checksums)
    model = {n: v for n, v in arrays.items() if any(s in n for s in _MODEL_SCOPES)}
    inferred = infer_layer_counts(list(model)) if None in (specialized_levels, fusion_pyramid_levels) else None
    counts = LayerCounts(
        specialized_levels if specialized_levels is not None else inferred.specialized_levels,
        fusion_pyramid_levels if fusion_pyramid_levels is not None else inferred.fusion_pyramid_levels,
    )
    return {tf_name_to_key(n, counts): torch.from_numpy(np.ascontiguousarray(tf_to_torch_array(n, v)))
            for n, v in model.items()}
