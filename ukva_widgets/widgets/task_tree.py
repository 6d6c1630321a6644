"""TaskTree: step forward and back through a script of fork/clone/execve/unshare/exit/wait calls and
see the task tree, thread groups and shared objects (refcount badges, freed objects marked freed).

A script is a list of lines (or one string with a line per call), each `[name =] call target [arg]`:
    sh = fork init
    t = clone sh CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD
    execve t /bin/ls          unshare sh CLONE_FILES        exit t 0        wait sh
    kt = kthread kworker
A target is `init`, a name bound earlier or a pid. Going back replays the script from a freshly booted
kernel (the engine is deterministic), so every position shows exactly what the engine computed.

CSS classes for browser tests: "ukva-task-tree", "ukva-back", "ukva-step", "ukva-reset",
"ukva-step-label", "ukva-summary", plus "ukva-error" and "ukva-graph".
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import ipywidgets as W
import traitlets

from ..engine import Kernel
from .base import (FREED_COLOUR, KIND_ATTR, KIND_COLOUR, OKABE_ITO, USER_ERRORS, ErrorBox, Node,
                   NodeLinkFigure, Picture, UkvaWidget, badge, esc, themed_table)

CALLS = {"fork": 0, "clone": 1, "execve": 1, "unshare": 1, "exit": (0, 1), "wait": 0, "kthread": None}
# Thread groups get colours in turn; the label "tg N" is the second cue.
GROUP_COLOURS = [OKABE_ITO[c] for c in ("sky", "orange", "green", "purple", "yellow", "vermillion")]
# Picture geometry: x in figure units, heights in pixels. The indent is wider than a task circle
# (r=18) plus bqplot's arrowhead (10px) twice over, so a tree link turns horizontal before it ends.
TASK_X, INDENT_X, OBJECT_X = 0.04, 0.085, 0.86
TASK_ROW_PX, ROW_PX, GROUP_GAP_PX, PAD_PX = 60, 36, 14, 22


@dataclass(frozen=True)
class Call:
    """One parsed script line."""

    line: str
    name: str | None
    call: str
    target: str
    arg: str | None


def parse_script(script: str | list[str]) -> list[Call]:
    """Parse a script; a bad line raises ValueError naming the line and the expected form."""
    lines = script.splitlines() if isinstance(script, str) else list(script)
    calls = []
    for number, line in enumerate(lines, 1):
        words = shlex.split(line, comments=True)
        if not words:
            continue
        name = None
        if len(words) > 2 and words[1] == "=":
            name, words = words[0], words[2:]
        call, rest = words[0], words[1:]
        if call not in CALLS:
            raise ValueError(f"script line {number} {line!r}: unknown call {call!r}; "
                             f"use one of {', '.join(CALLS)}")
        want = CALLS[call]
        counts = (1,) if call == "kthread" else tuple(1 + n for n in (want if isinstance(want, tuple) else (want,)))
        if len(rest) not in counts:
            raise ValueError(f"script line {number} {line!r}: {call} takes {' or '.join(map(str, counts))} "
                             f"word(s) after it, e.g. 'exit t 0', 'clone sh CLONE_VM', 'kt = kthread kworker'")
        if name is not None and call not in ("fork", "clone", "kthread"):
            raise ValueError(f"script line {number} {line!r}: only fork, clone and kthread return a task to name")
        calls.append(Call(line.strip(), name, call, rest[0], rest[1] if len(rest) > 1 else None))
    return calls


class TaskTree(UkvaWidget):
    """A script of task calls, stepped forward and back over a fresh engine Kernel."""

    position = traitlets.Int(0)

    def __init__(self, script: str | list[str] = ()) -> None:
        self.calls = parse_script(script)
        self.back_button = W.Button(description="back", icon="step-backward", layout=W.Layout(width="90px"))
        self.step_button = W.Button(description="step", icon="step-forward", layout=W.Layout(width="90px"))
        self.reset_button = W.Button(description="reset", icon="undo", layout=W.Layout(width="90px"))
        for button, cls in ((self.back_button, "ukva-back"), (self.step_button, "ukva-step"),
                            (self.reset_button, "ukva-reset")):
            button.add_class(cls)
        self.back_button.on_click(lambda _: self._move(-1))
        self.step_button.on_click(lambda _: self._move(+1))
        self.reset_button.on_click(lambda _: setattr(self, "position", 0))
        self.step_label = W.HTML()
        self.step_label.add_class("ukva-step-label")
        self.error = ErrorBox()
        # One height for every step (the most tasks and objects the script ever shows), so stepping
        # never resizes the figure; objects are only ever added to `seen`, never dropped.
        most_tasks = self._replay(len(self.calls))
        self.picture_px = _span(most_tasks, len(self.seen), len({kind for kind, _ in self.seen})) + 2 * PAD_PX
        self.picture = NodeLinkFigure(height=f"{self.picture_px + 20}px")
        self.summary = W.HTML()
        self.summary.add_class("ukva-summary")
        super().__init__([W.HBox([self.back_button, self.step_button, self.reset_button, self.step_label]),
                          self.error, self.picture.figure, self.summary])
        self.add_class("ukva-task-tree")
        self._redraw()

    def _move(self, delta: int) -> None:
        self.position = min(max(self.position + delta, 0), len(self.calls))

    @traitlets.validate("position")
    def _validate_position(self, proposal: dict) -> int:
        if not 0 <= proposal["value"] <= len(self.calls):
            raise traitlets.TraitError(f"position must be between 0 and {len(self.calls)} (the script length)")
        return proposal["value"]

    @traitlets.observe("position")
    def _on_position(self, change: dict) -> None:
        self._redraw()

    # -- engine ---------------------------------------------------------------------------------------

    def _replay(self, upto: int | None = None) -> int:
        """Run the first `upto` (default `position`) calls on a fresh kernel, remembering every object
        ever held; returns the most tasks alive at once."""
        self.kernel = k = Kernel()
        names = {"init": k.init}
        self.results: list[str] = []
        self.failure: str | None = None
        self.seen: dict[tuple[str, int], object] = {}
        self._collect()
        most = len(k.tasks)
        for call in self.calls[: self.position if upto is None else upto]:
            try:
                self.results.append(self._apply(call, names))
                self.failure = None
            except USER_ERRORS as e:  # CloneError is an OSError
                self.results.append(f"fails: {e}")
                self.failure = f"{call.line}: {e}"
            self._collect()
            most = max(most, len(k.tasks))
        return most

    def _apply(self, call: Call, names: dict) -> str:
        k = self.kernel
        if call.call == "kthread":
            task = k.kthread(call.target)
            names[call.name or call.target] = task
            return f"kernel thread pid {task.pid}"
        target = self._task(call.target, names)
        if call.call in ("fork", "clone"):
            task = k.fork(target) if call.call == "fork" else k.clone(target, call.arg)
            if call.name:
                names[call.name] = task
            return f"new task pid {task.pid}"
        if call.call == "execve":
            k.execve(target, call.arg)
            return f"pid {target.pid} now runs {call.arg}"
        if call.call == "unshare":
            k.unshare(target, call.arg)
            return f"pid {target.pid} unshared {call.arg}"
        if call.call == "exit":
            k.exit(target, int(call.arg or 0))
            return f"pid {target.pid} exited"
        reaped = k.wait(target)
        return f"reaped pid {reaped[0]} (status {reaped[1]})" if reaped else "no child to reap"

    def _task(self, ref: str, names: dict):
        if ref in names:
            return names[ref]
        if ref.isdigit():
            return self.kernel.task(int(ref))
        raise ValueError(f"no task called {ref!r}; name it first ('sh = fork init') or give a pid")

    def _collect(self) -> None:
        for task in self.kernel.tasks:
            for kind, attr in KIND_ATTR.items():
                obj = getattr(task, attr)
                if obj is not None:
                    self.seen.setdefault((kind, obj.id), obj)

    # -- views ----------------------------------------------------------------------------------------

    def _redraw(self) -> None:
        self._replay()
        self.back_button.disabled = self.position == 0
        self.step_button.disabled = self.position == len(self.calls)
        here = self.calls[self.position - 1].line if self.position else "boot"
        self.step_label.value = (f'<span style="color:var(--jp-ui-font-color1)">step {self.position} of '
                                 f"{len(self.calls)}: <code>{esc(here)}</code> "
                                 f"{esc('→ ' + self.results[-1]) if self.results else ''}</span>")
        if self.failure:
            self.error.show(self.failure)
        else:
            self.error.clear()
        self.picture.draw(self._picture())
        self.summary.value = self._summary_html()

    def _objects(self) -> list:
        return sorted(self.seen.values(), key=lambda o: (list(KIND_ATTR).index(o.kind), o.id))

    def _group_colour(self, task) -> str:
        tgids = sorted({t.tgid for t in self.kernel.tasks})
        return GROUP_COLOURS[tgids.index(task.tgid) % len(GROUP_COLOURS)]

    def _picture(self) -> Picture:
        """Tasks in one column (children indented under their parent, in tree order) and every object
        in one column on the right, grouped by kind and ordered by where their holders sit.

        Links are elbows ending in a horizontal stretch into the target's left side, so arrowheads
        land on box edges; with all objects in one column no link runs behind another object, and
        the indent (wider than a task circle plus its arrowhead) keeps tree links clear of tasks.
        """
        tasks = self._tree_order()
        objects = self._objects()
        kinds = len({o.kind for o in objects})
        span = _span(len(tasks), len(objects), kinds)
        top = (self.picture_px - span) / 2  # centre the drawing in the figure's fixed height

        def y_of(px: float) -> float:
            return 1.0 - px / self.picture_px

        nodes, index, task_y = [], {}, {}
        for row, (t, depth) in enumerate(tasks):
            index[t.pid] = len(nodes)
            task_y[t.pid] = top + (row + 0.5) * span / len(tasks)
            label = f"{t.pid}" + ("" if t.pid == t.tgid else f"·tg{t.tgid}") + ("✝" if t.state == "zombie" else "")
            nodes.append(Node(label, TASK_X + INDENT_X * depth, y_of(task_y[t.pid]), self._group_colour(t),
                              "circle", dashed=t.state != "running"))
        links = [(index[t.parent.pid], index[t.pid]) for t, _ in tasks if t.parent is not None and t.parent.pid in index]
        holders = {id(o): [t for t, _ in tasks if getattr(t, KIND_ATTR[o.kind]) is o] for o in objects}

        def barycentre(obj) -> tuple:
            # Held objects in the mean position of their holders (fewest crossings); freed ones last.
            ys = [task_y[t.pid] for t in holders[id(obj)]]
            return (not ys, sum(ys) / len(ys) if ys else 0.0, obj.id)

        py = top + (span - _span(0, len(objects), kinds)) / 2 + ROW_PX / 2  # objects centred too
        for kind in KIND_ATTR:
            group = sorted((o for o in objects if o.kind == kind), key=barycentre)
            for obj in group:
                label = f"{obj.label} freed" if obj.freed else f"{obj.label} ×{obj.refcount}"
                nodes.append(Node(label, OBJECT_X, y_of(py), FREED_COLOUR if obj.freed else KIND_COLOUR[kind],
                                  dashed=obj.freed))
                links += [(index[t.pid], len(nodes) - 1) for t in holders[id(obj)]]
                py += ROW_PX
            if group:
                py += GROUP_GAP_PX
        return Picture(nodes, links)

    def _tree_order(self) -> list[tuple]:
        """Live and zombie tasks depth first from their roots, each with its depth in the tree."""
        tasks = list(self.kernel.tasks)
        live = {t.pid for t in tasks}
        order: list[tuple] = []

        def visit(task, depth: int) -> None:
            order.append((task, depth))
            for child in sorted((c for c in tasks if c.parent is task), key=lambda c: c.pid):
                visit(child, depth + 1)

        for root in (t for t in tasks if t.parent is None or t.parent.pid not in live):
            visit(root, 0)
        return order

    def _holders(self, obj) -> str:
        attr = KIND_ATTR[obj.kind]
        return ", ".join(str(t.pid) for t in self.kernel.tasks if getattr(t, attr) is obj) or "-"

    def _summary_html(self) -> str:
        tasks = [[badge(f"pid {t.pid}", self._group_colour(t), dashed=t.state != "running"), esc(t.comm),
                  esc(t.tgid), esc(t.parent.pid if t.parent else "-"), esc(t.state)] for t in self.kernel.tasks]
        objects = [[badge(o.label, FREED_COLOUR if o.freed else KIND_COLOUR[o.kind], dashed=o.freed),
                    "freed" if o.freed else esc(o.refcount), esc(self._holders(o))] for o in self._objects()]
        return ('<div style="display:flex;gap:16px;flex-wrap:wrap;align-items:flex-start">'
                + themed_table(["task", "comm", "tgid", "parent", "state"], tasks)
                + themed_table(["object", "refcount", "held by"], objects) + "</div>")

    def text(self) -> str:
        here = self.calls[self.position - 1].line if self.position else "boot"
        lines = [f"TaskTree: step {self.position} of {len(self.calls)}: {here}"
                 + (f" -> {self.results[-1]}" if self.results else "")]
        for t in self.kernel.tasks:
            lines.append(f"  task pid {t.pid} {t.comm} tgid {t.tgid} parent {t.parent.pid if t.parent else '-'} {t.state}")
        for o in self._objects():
            lines.append(f"  {o.label:<10} " + ("freed" if o.freed else f"refcount {o.refcount} held by {self._holders(o)}"))
        return "\n".join(lines)


def _span(tasks: int, objects: int, kinds: int) -> int:
    """Pixels the picture needs: a row per task or per object (kinds apart by a gap), whichever is taller."""
    return max(tasks * TASK_ROW_PX, objects * ROW_PX + max(kinds - 1, 0) * GROUP_GAP_PX)
