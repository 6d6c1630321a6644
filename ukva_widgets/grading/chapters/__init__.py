"""Every chapter's graded items; importing this package registers them all."""

from . import ch01_unix_process  # noqa: F401
from . import ch02_tasks_and_clone  # noqa: F401
from . import ch03_lifetimes  # noqa: F401
from . import ch04_tlbs  # noqa: F401
from . import ch05_where_can_ukva_live  # noqa: F401
from . import ch06_living_with_per_mm  # noqa: F401
from . import ch07_what_linux_did  # noqa: F401
