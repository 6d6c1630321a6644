"""The stored answers the live book shows in a browser (real/recorded.json) are what this kernel answers."""

from __future__ import annotations

from ukva_widgets.real import subsets
from ukva_widgets.real.probe import COMPARED_RESOURCES
from ukva_widgets.real.recorded import load, results


def test_every_subset_of_the_probed_flags_has_a_stored_answer_marked_with_its_kernel():
    kernel, answers = load()
    assert sorted(answers) == subsets() and kernel.startswith("Linux ")
    stored = results(subsets())
    assert all(r.available and r.recorded == kernel for r in stored)


def test_the_stored_answers_are_this_kernels(kernel_answers):
    for r in results(subsets()):
        live = kernel_answers[r.flags]
        assert (r.errno, r.same_thread_group, r.parent_is) == (live.errno, live.same_thread_group, live.parent_is)
        assert {k: r.shares.get(k) for k in COMPARED_RESOURCES} == {k: live.shares.get(k) for k in COMPARED_RESOURCES}
