"""Fixtures for the engine tests: a fresh kernel, a shell forked from init, and a guard proving
that a refused call changed nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from engine_snapshot import snapshot

from ukva_widgets.engine import Kernel


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: a long check that runs once per suite (the SMP explorer "
                            "against a plain BFS over many configurations)")


@pytest.fixture
def k() -> Kernel:
    return Kernel()


@pytest.fixture
def sh(k: Kernel):
    """A plain process forked from init, as the book and the probe use."""
    return k.fork(k.init)


@pytest.fixture
def unchanged(k: Kernel) -> Callable[..., AbstractContextManager[None]]:
    """`with unchanged(): ...` asserts the block left the kernel (default: the `k` fixture) as it was."""
    @contextmanager
    def guard(kernel: Kernel | None = None) -> Iterator[None]:
        kernel = kernel or k
        before = snapshot(kernel)
        yield
        assert snapshot(kernel) == before, "a refused call changed the kernel's state"
    return guard
