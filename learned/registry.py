"""Name -> model class registry. Model modules register themselves on import (`learned.models`).

`MODELS` is a `simengine.registry.Registry`; `register`, `available`, `get` and `create` are its public face.
"""
import importlib

from simengine.errors import InputError
from simengine.registry import Registry

MODELS: Registry[type] = Registry("model")
# Modules imported on first use so that every built-in model is registered.
_BUILTIN_MODULES = ("learned.models",)


class UnknownModelError(InputError, KeyError):
    """An unregistered model name: an `InputError` (bad input) that older callers can still catch as `KeyError`."""

    __str__ = InputError.__str__  # the plain message, not KeyError's quoted repr of it


def register(name: str):
    """Class decorator: ``@register("gns")`` makes the class available as ``create("gns", ...)``.

    Registering a different class under a taken name raises `ValueError`.
    """
    def wrap(cls):
        MODELS.add(name, cls)
        cls.registry_name = name
        return cls
    return wrap


def _load_builtins():
    for module in _BUILTIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def available() -> list:
    """Sorted names of the registered models (built-ins included)."""
    _load_builtins()
    return MODELS.names()


def get(name: str):
    """The model class registered as ``name``; `UnknownModelError` (an `InputError` and a `KeyError`) naming the
    registered models otherwise."""
    _load_builtins()
    try:
        return MODELS.get(name)
    except InputError as err:
        raise UnknownModelError(str(err)) from None


def create(name: str, **config):
    """An instance of the model registered as ``name``, built with ``config``."""
    return get(name)(**config)
