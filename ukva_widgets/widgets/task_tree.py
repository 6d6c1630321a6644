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
        self.picture = NodeLinkFigure(height="400px")
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

    def _replay(self) -> None:
        """Run the first `position` calls on a fresh kernel, remembering every object ever held."""
        self.kernel = k = Kernel()
        names = {"init": k.init}
        self.results: list[str] = []
        self.failure: str | None = None
        self.seen: dict[tuple[str, int], object] = {}
        self._collect()
        for call in self.calls[: self.position]:
            try:
                self.results.append(self._apply(call, names))
                self.failure = None
            except USER_ERRORS as e:  # CloneError is an OSError
                self.results.append(f"fails: {e}")
                self.failure = f"{call.line}: {e}"
            self._collect()

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
        tasks = list(self.kernel.tasks)
        depth = {}
        for t in tasks:
            d, p = 0, t.parent
            while p is not None:
                d, p = d + 1, p.parent
            depth[t.pid] = d
        levels = max(depth.values(), default=0) + 1
        nodes, index = [], {}
        by_level: dict[int, list] = {}
        for t in tasks:
            by_level.setdefault(depth[t.pid], []).append(t)
        for d, row in by_level.items():
            for i, t in enumerate(row):
                index[t.pid] = len(nodes)
                label = f"{t.pid}" + ("" if t.pid == t.tgid else f"·tg{t.tgid}") + ("✝" if t.state == "zombie" else "")
                nodes.append(Node(label, (i + 1) / (len(row) + 1), 1.0 - 0.35 * d / max(levels - 1, 1),
                                  self._group_colour(t), "circle", dashed=t.state != "running"))
        links = [(index[t.parent.pid], index[t.pid]) for t in tasks if t.parent is not None and t.parent.pid in index]
        kinds = list(KIND_ATTR)
        per_kind: dict[str, list] = {}
        for obj in self._objects():
            per_kind.setdefault(obj.kind, []).append(obj)
        obj_index = {}
        # One column per kind of object present, newest at the bottom; tasks above.
        present = [k for k in kinds if k in per_kind]
        for kind, objs in per_kind.items():
            x = (present.index(kind) + 0.5) / len(present)
            for i, obj in enumerate(objs):
                obj_index[(kind, obj.id)] = len(nodes)
                label = f"{obj.label} freed" if obj.freed else f"{obj.label} ×{obj.refcount}"
                nodes.append(Node(label, x, 0.45 - min(0.2, 0.45 / max(len(objs) - 1, 1)) * i,
                                  FREED_COLOUR if obj.freed else KIND_COLOUR[kind], dashed=obj.freed))
        for t in tasks:
            for kind, attr in KIND_ATTR.items():
                obj = getattr(t, attr)
                if obj is not None and (kind, obj.id) in obj_index:
                    links.append((index[t.pid], obj_index[(kind, obj.id)]))
        return Picture(nodes, links)

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
