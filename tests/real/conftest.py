"""Shared by the real-kernel tests: whether this machine's kernel can be probed at all."""

from __future__ import annotations

import platform

import pytest
from real_helpers import RANDOM_SEQUENCES, skip_or_fail

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


@pytest.fixture(scope="session")
def sequence_report():
    """The listed sequences and RANDOM_SEQUENCES random ones, played once per session on the
    kernel and on the engine; skips (or fails) where the kernel cannot be asked."""
    from ukva_widgets.real.engine_replay import check_sequences

    why = unavailable_reason(platform.system(), platform.machine())
    if why:
        skip_or_fail(f"the running kernel cannot be asked: {why}")
    report = check_sequences(RANDOM_SEQUENCES, seed=0)
    if not report.available:
        skip_or_fail(f"the running kernel cannot be asked: {report.why}")
    return report
