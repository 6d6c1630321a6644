"""TaskTree: step forward and back through a script of fork/clone/execve/unshare/exit/wait calls and
see who shares what as a matrix: tasks as rows (named as the script names them, children indented
under their parent, thread groups bracketed), object kinds as columns, each object one cell spanning
the rows of the tasks that hold it, with its refcount; what the last step created, freed or
re-pointed is highlighted; freed objects wait, muted, in the last row.

A script is a list of lines (or one string with a line per call), each `[name =] call target [arg]`:
    sh = fork init
    t = clone sh CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD
    execve t /bin/ls          unshare sh CLONE_FILES        exit t 0        wait sh
    kt = kthread kworker      comm t worker   (prctl(PR_SET_NAME): the name ps shows)
A target is `init`, a name bound earlier or a pid. Going back replays the script from a freshly booted
kernel (the engine is deterministic), so every position shows exactly what the engine computed.

CSS classes for browser tests: "ukva-task-tree", "ukva-back", "ukva-step", "ukva-reset",
"ukva-step-label", "ukva-matrix" (the table: "ukva-task-row", "ukva-object" on each object cell,
"ukva-thread-group", "ukva-created", "ukva-freed-now", "ukva-repointed", "ukva-new-task",
"ukva-freed"), plus "ukva-error".
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import ipywidgets as W
import traitlets

from ..engine import Kernel
from .base import KIND_ATTR, KIND_COLOUR, OKABE_ITO, USER_ERRORS, ErrorBox, UkvaWidget, esc, scroll_box

CALLS = {"fork": 0, "clone": 1, "execve": 1, "unshare": 1, "exit": (0, 1), "wait": 0, "kthread": None, "comm": 1}
ROW_PX, HEAD_PX, FREED_LINE_PX = 40, 30, 24
CHANGE_COLOUR = OKABE_ITO["yellow"]


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
        # One size for every step: as many rows as the most tasks alive at once, every kind of object
        # the script ever shows, and room for every object it ever frees (objects only accumulate).
        self.most_tasks = self._replay(len(self.calls))
        self.kinds = [kind for kind in KIND_ATTR if any(k == kind for k, _ in self.seen)]
        most_freed = max([sum(o.freed for o in self.seen.values() if o.kind == kind) for kind in self.kinds] or [0])
        height = HEAD_PX + self.most_tasks * ROW_PX + max(most_freed, 1) * FREED_LINE_PX + 40
        self.matrix = W.HTML(layout=W.Layout(width="100%", min_height=f"{height}px"))
        self.matrix.add_class("ukva-matrix")
        super().__init__([W.HBox([self.back_button, self.step_button, self.reset_button],
                                 layout=W.Layout(flex_flow="row wrap")),
                          self.step_label, self.error, self.matrix])
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
        self.names = names = {"init": k.init}
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
        if call.call == "comm":
            k.set_comm(target, call.arg)
            return f"pid {target.pid} is now called {target.comm}"
        if call.call == "unshare":
            k.unshare(target, call.arg)
            return f"pid {target.pid} unshared {call.arg}"
        if call.call == "exit":
            k.exit(target, int(call.arg or 0))
            return f"pid {target.pid} exited"
        reaped = k.wait(target)
        return (f"reaped pid {reaped.pid} (exit code {reaped.exit_code}, wait status {reaped.status:#06x})"
                if reaped else "no child to reap")

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

    def _snapshot(self) -> tuple[dict, set, set]:
        """What a step can change, to highlight it: each task's objects, the objects alive, the freed."""
        held = {t.pid: {kind: getattr(t, attr) and getattr(t, attr).id for kind, attr in KIND_ATTR.items()}
                for t in self.kernel.tasks}
        alive = {key for key, o in self.seen.items() if not o.freed}
        return held, alive, {key for key, o in self.seen.items() if o.freed}

    def _redraw(self) -> None:
        if self.position:
            self._replay(self.position - 1)
            self.before = self._snapshot()
        else:
            self.before = None
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
        self.matrix.value = self._matrix_html()

    def changes(self) -> dict[str, list]:
        """What the last step did: objects created and freed, (task, kind) pairs re-pointed, new tasks."""
        out: dict[str, list] = {"created": [], "freed": [], "repointed": [], "new tasks": []}
        if self.before is None:
            return out
        held, alive, freed = self.before
        now_held, now_alive, now_freed = self._snapshot()
        out["created"] = sorted(now_alive - alive - freed, key=_key_order)
        out["freed"] = sorted(now_freed - freed, key=_key_order)
        out["new tasks"] = [pid for pid in now_held if pid not in held]
        out["repointed"] = [(pid, kind) for pid, kinds in now_held.items() if pid in held
                            for kind, oid in kinds.items() if held[pid][kind] != oid]
        return out

    def _names(self) -> dict[int, str]:
        """pid -> the name the script gave the task (as the chapter calls it); tasks it did not name go by comm."""
        return {task.pid: name for name, task in self.names.items() if task in self.kernel.tasks and name != "init"}

    def _rows(self) -> list[tuple]:
        """Tasks in tree order, the members of a thread group together (leader first), each with its depth."""
        tasks = list(self.kernel.tasks)
        live = {t.pid for t in tasks}
        groups: dict[int, list] = {}
        for t in tasks:
            groups.setdefault(t.tgid, []).append(t)
        order: list[tuple] = []

        def visit(tgid: int, depth: int) -> None:
            members = sorted(groups[tgid], key=lambda t: (not t.is_leader, t.pid))
            order.extend((t, depth) for t in members)
            children = sorted({c.tgid for c in tasks if c.parent is not None and c.parent.tgid == tgid
                               and c.tgid != tgid}, key=lambda g: min(t.pid for t in groups[g]))
            for child in children:
                visit(child, depth + 1)

        roots = sorted({t.tgid for t in tasks if t.parent is None or t.parent.pid not in live})
        for tgid in roots:
            visit(tgid, 0)
        return order

    def _matrix_html(self) -> str:
        rows = self._rows()
        names = self._names()
        change = self.changes()
        created, freed_now = set(change["created"]), set(change["freed"])
        repointed, new_tasks = set(change["repointed"]), set(change["new tasks"])
        cell = "padding:3px 6px;border-bottom:1px solid var(--jp-border-color2);vertical-align:middle"
        head = "".join(f'<th style="{cell};text-align:left;border-bottom:2px solid {KIND_COLOUR[k]}">{esc(k)}</th>'
                       for k in self.kinds)
        html = [f'<table class="ukva-matrix-table" style="border-collapse:collapse;color:var(--jp-ui-font-color1);'
                f'font-size:12px;table-layout:auto"><thead><tr style="height:{HEAD_PX}px">'
                f'<th style="{cell};text-align:left" colspan="2">task (pid)</th>{head}</tr></thead><tbody>']
        # A cell per run of consecutive rows holding one object; the object's refcount inside it.
        spans: dict[tuple[int, str], int] = {}
        for kind in self.kinds:
            r = 0
            while r < len(rows):
                obj = getattr(rows[r][0], KIND_ATTR[kind])
                n = 1
                while r + n < len(rows) and obj is not None and getattr(rows[r + n][0], KIND_ATTR[kind]) is obj:
                    n += 1
                spans[(r, kind)] = n
                r += n
        group_span: dict[int, int] = {}
        for r, (t, _) in enumerate(rows):
            if r == 0 or rows[r - 1][0].tgid != t.tgid:
                group_span[r] = sum(1 for u, _ in rows[r:] if u.tgid == t.tgid)
        for r, (t, depth) in enumerate(rows):
            row_classes = "ukva-task-row" + (" ukva-new-task" if t.pid in new_tasks else "")
            tr = [f'<tr class="{row_classes}" style="height:{ROW_PX}px">']
            if r in group_span:
                n = group_span[r]
                tr.append(f'<td class="ukva-thread-group" rowspan="{n}" style="{cell};padding:0 2px 0 0">'
                          f'<div title="thread group {t.tgid}: {n} task{"s" if n > 1 else ""}" style="height:{n * ROW_PX - 8}px;'
                          f'min-width:30px;border:2px solid var(--jp-ui-font-color2);border-right:none;border-radius:6px 0 0 6px;'
                          f'display:flex;align-items:center;justify-content:center;font-size:10px;'
                          f'color:var(--jp-ui-font-color2);writing-mode:vertical-rl;transform:rotate(180deg)">'
                          f"tg {t.tgid}</div></td>")
            name = names.get(t.pid, t.comm)
            extra = [f"pid {t.pid}"] + ([f"comm {t.comm}"] if name != t.comm else []) + \
                ([] if t.is_leader else [f"thread of {names.get(t.tgid, t.group_leader.comm)}"])
            state = "" if t.state == "running" else f" ✝ {t.state}"
            mark = (f' <span style="background:{CHANGE_COLOUR};color:#000;border-radius:3px;padding:0 3px">new</span>'
                    if t.pid in new_tasks else "")
            tr.append(f'<td style="{cell};white-space:nowrap;padding-left:{6 + 14 * depth}px">'
                      f"{'└ ' if depth and t.is_leader else ''}<b>{esc(name)}</b>{mark}"
                      f'<div style="color:var(--jp-ui-font-color2);font-size:11px">{esc(", ".join(extra))}{esc(state)}</div></td>')
            for kind in self.kinds:
                if (r, kind) not in spans:
                    continue
                obj = getattr(t, KIND_ATTR[kind])
                n = spans[(r, kind)]
                if obj is None:
                    tr.append(f'<td style="{cell};color:var(--jp-ui-font-color3)">none</td>')
                    continue
                key = (kind, obj.id)
                holders = [u for u, _ in rows if getattr(u, KIND_ATTR[kind]) is obj]
                moved = any((u.pid, kind) in repointed for u, _ in rows[r:r + n])
                classes = "ukva-object" + (" ukva-created" if key in created else "") + (" ukva-repointed" if moved else "")
                note = "new" if key in created else "re-pointed" if moved else ""
                shared = len(holders) > 1
                elsewhere = len(holders) > n  # also held by a row this cell cannot span
                tr.append(f'<td class="{classes}" rowspan="{n}" title="{esc(obj.label)}, refcount {obj.refcount}" '
                          f'style="{cell};padding:2px 3px">'
                          f'<div style="border:{3 if note else 1}px solid {CHANGE_COLOUR if note else KIND_COLOUR[kind]};'
                          f"border-left:6px solid {KIND_COLOUR[kind]};border-radius:4px;padding:1px 4px;height:{n * ROW_PX - 12}px;"
                          f"display:flex;flex-direction:column;justify-content:center;white-space:nowrap;"
                          f'background:var(--jp-layout-color{2 if shared else 1})">'
                          f"<span><b>{esc(_short(obj))}</b> ×{esc(obj.refcount)}</span>"
                          + ('<span style="font-size:10px;color:var(--jp-ui-font-color2)">also held by another row</span>'
                             if elsewhere else "")
                          + (f'<span style="font-size:10px">{note}</span>' if note else "") + "</div></td>")
            tr.append("</tr>")
            html.append("".join(tr))
        for _ in range(self.most_tasks - len(rows)):  # blank rows keep the size while stepping
            html.append(f'<tr style="height:{ROW_PX}px"><td colspan="{len(self.kinds) + 2}"></td></tr>')
        freed_cells = []
        for kind in self.kinds:
            gone = sorted((o for o in self.seen.values() if o.kind == kind and o.freed), key=lambda o: o.id)
            freed_cells.append("".join(
                f'<div class="ukva-freed{" ukva-freed-now" if (kind, o.id) in freed_now else ""}" '
                f'style="border:1px dashed var(--jp-border-color1);border-radius:4px;padding:0 4px;margin:1px 0;'
                f"white-space:nowrap;color:var(--jp-ui-font-color3);"
                f'{"outline:3px solid " + CHANGE_COLOUR + ";color:var(--jp-ui-font-color1)" if (kind, o.id) in freed_now else ""}">'
                f"<s>{esc(_short(o))}</s> freed{' now' if (kind, o.id) in freed_now else ''}</div>" for o in gone))
        html.append(f'<tr><td colspan="2" style="{cell};color:var(--jp-ui-font-color2);vertical-align:top">freed objects</td>'
                    + "".join(f'<td style="{cell};vertical-align:top">{c}</td>' for c in freed_cells) + "</tr>")
        html.append("</tbody></table>")
        legend = ('<div style="color:var(--jp-ui-font-color2);font-size:11px;margin-top:4px">one cell per object '
                  "(#2 in the mm column is mm#2), spanning the tasks that hold it (×refcount); the bracket on the left groups a thread group; "
                  f'<span style="border:2px solid {CHANGE_COLOUR};padding:0 3px">marked</span> what the last step changed</div>')
        return scroll_box("".join(html)) + legend

    def _objects(self) -> list:
        return sorted(self.seen.values(), key=lambda o: (list(KIND_ATTR).index(o.kind), o.id))

    def _holders(self, obj) -> str:
        attr = KIND_ATTR[obj.kind]
        return ", ".join(str(t.pid) for t in self.kernel.tasks if getattr(t, attr) is obj) or "-"

    def text(self) -> str:
        here = self.calls[self.position - 1].line if self.position else "boot"
        lines = [f"TaskTree: step {self.position} of {len(self.calls)}: {here}"
                 + (f" -> {self.results[-1]}" if self.results else "")]
        for t in self.kernel.tasks:
            lines.append(f"  task pid {t.pid} {t.comm} tgid {t.tgid} parent {t.parent.pid if t.parent else '-'} {t.state}")
        for o in self._objects():
            lines.append(f"  {o.label:<10} " + ("freed" if o.freed else f"refcount {o.refcount} held by {self._holders(o)}"))
        change = self.changes()
        words = ([f"created {', '.join(self.seen[k].label for k in change['created'])}"] if change["created"] else []) + \
                ([f"freed {', '.join(self.seen[k].label for k in change['freed'])}"] if change["freed"] else []) + \
                ([f"re-pointed {', '.join(f'pid {pid} {kind}' for pid, kind in change['repointed'])}"]
                 if change["repointed"] else []) + \
                ([f"new task {', '.join(f'pid {pid}' for pid in change['new tasks'])}"] if change["new tasks"] else [])
        if words:
            lines.append("  last step: " + "; ".join(words))
        return "\n".join(lines)



def _short(obj) -> str:
    """"#2" for mm#2: the column names the kind (the cell's tooltip gives the whole label)."""
    return obj.label.removeprefix(obj.kind)


def _key_order(key: tuple[str, int]) -> tuple[int, int]:
    return list(KIND_ATTR).index(key[0]), key[1]
