"""Shared by the real-kernel tests: whether this machine's kernel can be probed at all."""

from __future__ import annotations

import platform

import pytest

from real_helpers import skip_or_fail

from ukva_widgets.real.probe import ProbeResult, probe_all, unavailable_reason


@pytest.fixture
def probeable_kernel() -> None:
    """Use on tests that need the running kernel to answer probes."""
    why = unavailable_reason(platform.system(), platform.machine())
    if why:
        skip_or_fail(f"the running kernel cannot be probed: {why}")


@pytest.fixture(scope="session")
def kernel_answers() -> dict[int, ProbeResult]:
    """probe_all() once per session, by flag word; skips (or fails) if any answer is missing."""
    why = unavailable_reason(platform.system(), platform.machine())
    if why:
        skip_or_fail(f"the running kernel cannot be probed: {why}")
    answers = {r.flags: r for r in probe_all()}
    missing = next((r for r in answers.values() if not r.available), None)
    if missing:
        skip_or_fail(f"the running kernel cannot be probed: {missing.why}")
    return answers
