"""Built-in learned simulators; importing this package registers each of them by name."""
from learned.models import (
    giorom,  # noqa: F401
    gns,  # noqa: F401
    gs_dynamics,  # noqa: F401
    hcmt,  # noqa: F401
    meshgraphnets,  # noqa: F401
    nclaw,  # noqa: F401
    pgnd,  # noqa: F401
    trajcast,  # noqa: F401
)
