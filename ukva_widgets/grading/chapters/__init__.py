"""Every chapter's graded items; importing this package registers them all."""

from . import (
    ch01_unix_process,  # noqa: F401
    ch02_tasks_and_clone,  # noqa: F401
    ch03_lifetimes,  # noqa: F401
    ch04_tlbs,  # noqa: F401
    ch05_where_can_ukva_live,  # noqa: F401
    ch06_living_with_per_mm,  # noqa: F401
    ch07_what_linux_did,  # noqa: F401
)
