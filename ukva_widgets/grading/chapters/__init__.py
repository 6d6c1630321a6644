"""Every chapter's graded items; importing this package registers them all."""

from . import ch01_unix_process  # noqa: F401
