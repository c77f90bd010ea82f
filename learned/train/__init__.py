"""Training: configuration, checkpoints with exact resume, and the model-agnostic `Trainer`."""
from learned.train.checkpoint import load_checkpoint, model_from_checkpoint, resolve_checkpoint, save_checkpoint  # noqa: F401
from learned.train.config import TRAIN_DEFAULTS, load_config_file, train_config  # noqa: F401
from learned.train.trainer import Trainer  # noqa: F401
