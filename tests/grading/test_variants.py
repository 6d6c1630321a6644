"""Every variant is answerable: over many seeds, the answer the engine gives gets full marks and a
changed answer loses points. (A variant whose own truth fails its judge would be a broken problem.)"""

import pytest

from ukva_widgets.engine import Kernel, explore
from ukva_widgets.grading import check, exercise
from ukva_widgets.grading.chapters import ch02_tasks_and_clone as ch02
from ukva_widgets.grading.chapters import ch03_lifetimes as ch03
from ukva_widgets.grading.chapters import ch04_tlbs as ch04
from ukva_widgets.grading.chapters import ch05_where_can_ukva_live as ch05
from ukva_widgets.grading.chapters import ch06_living_with_per_mm as ch06
from ukva_widgets.grading.chapters.machines import machine, replay

SEEDS = range(0, 3000, 97)  # 31 seeds spread over the range


def _shares(settings):
    k = Kernel()
    caller = k.fork(k.init)
    truth = k.shares(caller, k.clone(caller, settings["flags"] if settings["flags"] != "0" else 0))
    return {r: truth[r] for r in ch02.RESOURCES}


def _family(settings):
    k = Kernel()
    p = k.fork(k.init)
    child = k.clone(p, settings["flags"])
    return {"tgid": child.tgid, "parent": child.parent.pid}


def _refcounts(settings):
    _, tasks, _ = ch03.replay(settings["script"])
    return {key: getattr(tasks["P"], f).refcount for key, f in ch03.HELD.items()}


def _freed(settings):
    k, _, _ = ch03.replay(settings["script"])
    live = {o.label for o in k.objects()}
    return {label for label in settings["labels"] if label not in live}


def _counts(settings):
    out = {}
    for mode, pcid in (("no_pcid", False), ("pcid", True)):
        m = machine(2, 1, pcid=pcid, **settings["options"])
        replay(m, settings["schedule"])
        out[mode] = {n: m.counters[n] for n in ch04.COUNTED}
    return out


def _breaker(settings):
    return [c.label for c in explore(machine(settings["threads"], 0, **settings["options"])).trace]


def _verdicts(settings):
    return [explore(machine(*ch05.SETUPS[c][:2], **ch05.SETUPS[c][2])).verdict for c in settings["cases"]]


def _per_mm(settings):
    return [explore(machine(*ch06.PER_MM[c][:2], sibling="CLONE_VM", **ch06.PER_MM[c][2])).verdict
            for c in settings["cases"]]


TRUTH = {
    "2.1": _shares, "2.3": lambda s: [ch02.clone_outcome(*c) for c in s["cases"]], "2.4": _family,
    "3.1": _refcounts, "3.2": _freed, "4.1": _counts, "5.1": _breaker, "5.2": _breaker,
    "5.3": _verdicts, "6.3": _per_mm,
}


@pytest.mark.parametrize("item_id", sorted(TRUTH))
def test_the_engines_answer_gets_full_marks_on_every_variant(item_id):
    for seed in SEEDS:
        problem = exercise(item_id, seed=seed)
        feedback = check(item_id, TRUTH[item_id](problem.settings))
        assert feedback.verdict.passed, f"seed {seed}: {feedback.text()}"


def test_a_wrong_prediction_loses_points_on_every_variant():
    for seed in SEEDS:
        problem = exercise("3.1", seed=seed)
        wrong = {k: v + 1 for k, v in _refcounts(problem.settings).items()}
        assert check("3.1", wrong).verdict.points == 0
        problem = exercise("5.1", seed=seed)
        assert check("5.1", _breaker(problem.settings)[:-1]).verdict.points == 0
