"""Errors with messages that name the field, the value and the allowed range."""


class InputError(ValueError):
    """Bad user input: an unknown name, a value outside its range, an inconsistent shape."""


class SimulationError(RuntimeError):
    """A simulation that blew up (NaN, exploding state): says where and when."""


class DatasetError(ValueError):
    """A dataset file that is missing, corrupt, truncated or lacks a key: names the file and key."""


def check_range(field: str, value, low=None, high=None, *, low_open=False, high_open=False):
    """Raise `InputError` unless ``low <= value <= high`` (or strict where ``*_open``).

    The message names the field, the value and the allowed range, e.g.
    ``poisson_ratio = 0.5 is outside the allowed range [-1, 0.5)``.
    """
    import math

    bad = value is None or (isinstance(value, float) and math.isnan(value))
    if not bad and low is not None:
        bad = value <= low if low_open else value < low
    if not bad and high is not None:
        bad = value >= high if high_open else value > high
    if bad:
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        rng = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise InputError(f"{field} = {value!r} is outside the allowed range {rng}")
    return value
