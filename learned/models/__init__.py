"""Built-in learned simulators; importing this package registers each of them by name."""
from learned.models import gns  # noqa: F401
from learned.models import meshgraphnets  # noqa: F401
from learned.models import trajcast  # noqa: F401
from learned.models import nclaw  # noqa: F401
