"""Neural building blocks shared by the models: MLPs and encode-process-decode graph networks."""
from learned.nn.graph_net import EdgeModel, EncodeProcessDecode, GraphNetBlock, mlp, scatter_sum  # noqa: F401
from learned.nn.normalizer import OnlineNormalizer  # noqa: F401
