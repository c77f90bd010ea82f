"""Name -> model class registry. Model modules register themselves on import (`learned.models`)."""
import importlib

_REGISTRY: dict = {}
# Modules imported on first use so that every built-in model is registered.
_BUILTIN_MODULES = ("learned.models",)


def register(name: str):
    """Class decorator: ``@register("gns")`` makes the class available as ``create("gns", ...)``."""
    def wrap(cls):
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name].__name__}")
        _REGISTRY[name] = cls
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
    _load_builtins()
    return sorted(_REGISTRY)


def get(name: str):
    _load_builtins()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model {name!r}; available: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


def create(name: str, **config):
    return get(name)(**config)
