"""Every chapter's graded items; importing this package registers them all."""

from . import ch01_unix_process  # noqa: F401
from . import ch02_tasks_and_clone  # noqa: F401
from . import ch03_lifetimes  # noqa: F401
