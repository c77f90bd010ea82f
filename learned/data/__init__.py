"""Data pipeline: dataset description, windows of past frames, batching, training noise."""
from learned.data.augment import random_reflections, reflect  # noqa: F401
from learned.data.noise import NOISE, gaussian_noise, random_walk_noise  # noqa: F401
from learned.data.source import DatasetInfo, describe, load_split, read_metadata, split_path  # noqa: F401
from learned.data.windows import WindowDataset, batch_to, collate, key_layout, metadata_features  # noqa: F401
