"""TaskTree: step forward and back through a script of fork/clone/execve/unshare/exit/wait calls and
see who shares what as a matrix: tasks as rows (named as the script names them, children indented
under their parent, thread groups bracketed), object kinds as columns, each object one cell spanning
the rows of the tasks that hold it, with its refcount; freed objects wait, muted, in the last row.
Where the output is narrow (below 600 px) the matrix is transposed (kinds as rows, tasks as
columns), so every column shows.  What the last step changed carries the kit's one "changed" cue
(outline, a pulse, a chip): "new", "+1"/"−1" on a refcount, "re-pointed", "freed now", and a muted
ghost row for a task that ended ("sh — ended by de_thread (t's execve)").

The script is a list of calls (task_script.py says their form); going back replays it from a fresh
kernel (the engine is deterministic), so every position shows exactly what the engine computed.

Public state: `position` (the calls taken), a traitlet the view observes.

CSS classes for browser tests: "ukva-task-tree", "ukva-back", "ukva-step", "ukva-reset",
"ukva-step-label", "ukva-matrix" (the tables, "ukva-matrix-table" wide and
"ukva-matrix-transposed" narrow: "ukva-task-row", "ukva-object" on each object cell,
"ukva-thread-group", "ukva-created", "ukva-freed-now", "ukva-repointed", "ukva-new-task",
"ukva-recounted" (refcount moved), "ukva-ended" (a ghost row), "ukva-freed", "ukva-changed"),
plus "ukva-error".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import ipywidgets as W
import traitlets

from ..engine import Kernel
from . import draw as d
from .base import KIND_ATTR, USER_ERRORS, ErrorBox, UkvaWidget, changed_chip
from .palette import CHANGE_OUTLINE, KIND_COLOUR
from .task_script import Call, parse_script

ROW_PX = 40

@dataclass
class Moment:
    """What one position shows, to compare with the one before: each task by its birth (the call that
    made it, 0 for init: pids move under de_thread), its name, pid, thread group and objects; the
    objects alive with their refcounts; the objects freed."""

    tasks: dict[int, tuple[str, int, int, dict[str, int | None]]] = field(default_factory=dict)
    counts: dict[tuple[str, int], int] = field(default_factory=dict)
    freed: set[tuple[str, int]] = field(default_factory=set)


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
        # One size for every step: as many rows as the most tasks alive at once (plus one for a task
        # that just ended), every kind of object the script ever shows, room for every object it frees.
        self.most_tasks = self._replay(len(self.calls))
        self.kinds = [kind for kind in KIND_ATTR if any(k == kind for k, _ in self.seen)]
        self.most_freed = max([sum(o.freed for o in self.seen.values() if o.kind == kind)
                               for kind in self.kinds] or [0])
        self.matrix = W.HTML(layout=W.Layout(width="100%"))
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
        ever held and the call each task was born of; returns the most tasks alive at once."""
        self.kernel = k = Kernel()
        self.names = names = {"init": k.init}
        self.results: list[str] = []
        self.failure: str | None = None
        self.seen: dict[tuple[str, int], object] = {}
        self.birth: dict[int, int] = {id(k.init): 0}
        self._collect(0)
        most = len(k.tasks)
        for n, call in enumerate(self.calls[: self.position if upto is None else upto], 1):
            try:
                self.results.append(self._apply(call, names))
                self.failure = None
            except USER_ERRORS as e:  # CloneError is an OSError
                self.results.append(f"fails: {e}")
                self.failure = f"{call.line}: {e}"
            self._collect(n)
            most = max(most, len(k.tasks))  # a task that ends takes its ghost row from the tasks before
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

    def _collect(self, call: int) -> None:
        for task in self.kernel.tasks:
            self.birth.setdefault(id(task), call)
            for kind, attr in KIND_ATTR.items():
                obj = getattr(task, attr)
                if obj is not None:
                    self.seen.setdefault((kind, obj.id), obj)

    # -- what changed -----------------------------------------------------------------------------------

    def _name(self, task) -> str:
        """The name the script gave the task (as the chapter calls it); tasks it did not name go by comm."""
        return next((name for name, t in reversed(self.names.items()) if t is task and name != "init"), task.comm)

    def _moment(self) -> Moment:
        held = {self.birth[id(t)]: (self._name(t), t.pid, t.tgid, _object_ids(t)) for t in self.kernel.tasks}
        counts = {key: o.refcount for key, o in self.seen.items() if not o.freed}
        return Moment(held, counts, {key for key, o in self.seen.items() if o.freed})

    def _redraw(self) -> None:
        if self.position:
            self._replay(self.position - 1)
            self.before = self._moment()
        else:
            self.before = None
        self._replay()
        self.back_button.disabled = self.position == 0
        self.step_button.disabled = self.position == len(self.calls)
        here = self.calls[self.position - 1].line if self.position else "boot"
        result = d.esc(f" → {self.results[-1]}") if self.results else ""
        self.step_label.value = d.tag("span", d.esc(f"step {self.position} of {len(self.calls)}: "),
                                      d.tag("code", d.esc(here)), result, style=d.style(color=d.FG))
        if self.failure:
            self.error.show(self.failure)
        else:
            self.error.clear()
        self.matrix.value = self._matrix_html()

    def changes(self) -> dict[str, list]:
        """What the last step did: objects created and freed, (pid, kind) pairs re-pointed, new tasks
        (pids), refcounts moved ((kind, id, before, after)) and tasks ended ((name, pid, why))."""
        out: dict[str, list] = {"created": [], "freed": [], "repointed": [], "new tasks": [], "recounted": [],
                                "ended": []}
        if self.before is None:
            return out
        was, now = self.before, self._moment()
        out["created"] = sorted(set(now.counts) - set(was.counts) - was.freed, key=_key_order)
        out["freed"] = sorted(now.freed - was.freed, key=_key_order)
        out["new tasks"] = [pid for b, (_n, pid, _g, _o) in now.tasks.items() if b not in was.tasks]
        out["repointed"] = [(pid, kind) for b, (_n, pid, _g, objs) in now.tasks.items() if b in was.tasks
                            for kind, oid in objs.items() if was.tasks[b][3][kind] != oid]
        out["recounted"] = [(kind, oid, was.counts[(kind, oid)], n) for (kind, oid), n in now.counts.items()
                            if (kind, oid) in was.counts and was.counts[(kind, oid)] != n]
        call = self.calls[self.position - 1]
        for b, (name, pid, tgid, _objs) in was.tasks.items():
            if b not in now.tasks:
                out["ended"].append((name, pid, self._why_ended(call, tgid, was)))
        return out

    def _why_ended(self, call: Call, tgid: int, was: Moment) -> str:
        if call.call == "execve" and any(name == call.target and group == tgid
                                         for name, _pid, group, _objs in was.tasks.values()):
            return f"ended by de_thread ({call.target}'s execve)"
        if call.call == "wait":
            return f"reaped by {call.target}'s wait"
        if call.call == "exit":
            return "exited (a thread is reaped at once)"
        return f"ended by {call.call}"

    # -- views ----------------------------------------------------------------------------------------

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

    def _spans(self, rows: list[tuple], kind: str) -> list[tuple[int, int, object]]:
        """(first row, rows spanned, object) per run of consecutive rows holding one object of `kind`."""
        out, r = [], 0
        while r < len(rows):
            obj = getattr(rows[r][0], KIND_ATTR[kind])
            n = 1
            while r + n < len(rows) and obj is not None and getattr(rows[r + n][0], KIND_ATTR[kind]) is obj:
                n += 1
            out.append((r, n, obj))
            r += n
        return out

    def _object_cell(self, obj, kind: str, rows: list[tuple], first: int, n: int, change: dict, span: str) -> str:
        """One object: "#3 ×2" in its kind's colour, and what the last step did to it."""
        tag_name = "td"
        if obj is None:
            return d.tag(tag_name, "none", **{span: n if n > 1 else None},
                         style=d.style(color=d.FAINT, padding="2px 4px", border_bottom=f"1px solid {d.BORDER_FAINT}"))
        key = (kind, obj.id)
        holders = [u for u, _ in rows if getattr(u, KIND_ATTR[kind]) is obj]
        moved = any((u.pid, kind) in change["repointed"] for u, _ in rows[first:first + n])
        counted = next(((a, b) for k, i, a, b in change["recounted"] if (k, i) == key), None)
        marks = (["new"] if key in change["created"] else []) + (["re-pointed"] if moved else []) + \
            ([f"{counted[1] - counted[0]:+d}".replace("-", "−")] if counted else [])
        classes = ("ukva-object" + (" ukva-created" if key in change["created"] else "")
                   + (" ukva-repointed" if moved else "") + (" ukva-recounted" if counted else "")
                   + (" ukva-changed" if marks else ""))
        chips = "".join(changed_chip(m) for m in marks)
        extra = (d.tag("span", "also held by another row", style=d.style(font_size="11px", color=d.MUTED))
                 if len(holders) > n else "")
        box = d.style(border=f"{3 if marks else 1}px solid {CHANGE_OUTLINE if marks else KIND_COLOUR[kind]}",
                      border_left=f"6px solid {KIND_COLOUR[kind]}", border_radius="4px", padding="1px 4px",
                      min_height=f"{ROW_PX - 12}px" if span == "rowspan" else None, height="100%",
                      box_sizing="border-box", display="flex", flex_direction="column", justify_content="center",
                      white_space="nowrap" if span == "rowspan" else None, overflow_wrap="anywhere",
                      background=d.BG2 if len(holders) > 1 else d.BG1)
        return d.tag(tag_name, d.tag("div", d.tag("span", d.tag("b", d.esc(_short(obj))), f" ×{obj.refcount}", chips),
                                     extra, style=box),
                     cls=classes, title=f"{obj.label}, refcount {obj.refcount}", **{span: n if n > 1 else None},
                     style=d.style(padding="2px 3px", vertical_align="middle", height="1px"))

    def _task_label(self, t, depth: int, change: dict) -> str:
        name = self._name(t)
        extra = [f"pid {t.pid}"] + ([f"comm {t.comm}"] if name != t.comm else []) + \
            ([] if t.is_leader else [f"thread of {self._name(t.group_leader)}"])
        state = "" if t.state == "running" else f" ✝ {t.state}"
        new = t.pid in change["new tasks"]
        return (("└ " if depth and t.is_leader else "") + d.tag("b", d.esc(name))
                + (changed_chip("new") if new else "")
                + d.tag("div", d.esc(", ".join(extra) + state), style=d.style(color=d.MUTED, font_size="11px")))

    def _matrix_html(self) -> str:
        rows = self._rows()
        change = self.changes()
        legend = d.tag("div", "one cell per object (#2 in the mm column is mm#2), shared by the tasks that hold it "
                       "(×refcount); the bracket groups a thread group; ",
                       d.tag("span", "outlined", style=d.style(border=f"3px solid {CHANGE_OUTLINE}", padding="0 3px")),
                       " with a", changed_chip("chip"), ": what the last step changed",
                       style=d.style(color=d.MUTED, font_size="11px", margin_top="4px"))
        return d.two_layouts(d.scroll_box(self._wide(rows, change)), self._narrow(rows, change)) + legend

    def _wide(self, rows: list[tuple], change: dict) -> str:
        cell = d.style(padding="3px 6px", border_bottom=f"1px solid {d.BORDER_FAINT}", vertical_align="middle")
        head = "".join(d.tag("th", d.esc(k), scope="col", style=f"{cell};text-align:left;border-bottom:2px solid "
                                                                f"{KIND_COLOUR[k]}") for k in self.kinds)
        out = [d.tag("tr", d.tag("th", "task (pid)", colspan=2, scope="col", style=f"{cell};text-align:left"), head)]
        starts = {kind: {r: (n, obj) for r, n, obj in self._spans(rows, kind)} for kind in self.kinds}
        group_span = {r: sum(1 for u, _ in rows[r:] if u.tgid == t.tgid) for r, (t, _) in enumerate(rows)
                      if r == 0 or rows[r - 1][0].tgid != t.tgid}
        for r, (t, depth) in enumerate(rows):
            tr = []
            if r in group_span:
                n = group_span[r]
                bracket = d.tag("div", f"tg {t.tgid}", title=f"thread group {t.tgid}: {n} task{'s' * (n > 1)}",
                                style=_BRACKET)
                tr.append(d.tag("td", bracket, cls="ukva-thread-group", rowspan=n if n > 1 else None,
                                style=f"{cell};padding:0 2px 0 0;height:1px"))
            tr.append(d.tag("td", self._task_label(t, depth, change),
                            style=f"{cell};white-space:nowrap;padding-left:{6 + 14 * depth}px"))
            for kind in self.kinds:
                if r in starts[kind]:
                    n, obj = starts[kind][r]
                    tr.append(self._object_cell(obj, kind, rows, r, n, change, "rowspan"))
            new = t.pid in change["new tasks"]
            out.append(d.tag("tr", *tr, cls="ukva-task-row" + (" ukva-new-task ukva-changed" if new else ""),
                             style=f"height:{ROW_PX}px"))
        for name, pid, why in change["ended"]:
            out.append(d.tag("tr", d.tag("td", ""), d.tag("td", d.tag("s", d.esc(name)), d.esc(f" — {why}"),
                                                          d.tag("div", f"was pid {pid}", style="font-size:11px"),
                                                          colspan=len(self.kinds) + 1, style=_GHOST),
                             cls="ukva-ended ukva-changed", style=f"height:{ROW_PX}px"))
        for _ in range(self.most_tasks - len(rows) - len(change["ended"])):  # blank rows keep the size
            out.append(d.tag("tr", d.tag("td", "", colspan=len(self.kinds) + 2), style=f"height:{ROW_PX}px"))
        freed = [d.tag("td", self._freed(kind, change), style=f"{cell};vertical-align:top") for kind in self.kinds]
        title = d.tag("td", "freed objects", colspan=2, style=f"{cell};color:{d.MUTED};vertical-align:top")
        out.append(d.tag("tr", title, *freed, style=f"height:{max(self.most_freed, 1) * 24}px"))
        return d.tag("table", d.tag("thead", out[0]), d.tag("tbody", *out[1:]), cls="ukva-matrix-table",
                     style=d.style(border_collapse="collapse", color=d.FG, font_size="12px"))

    def _freed(self, kind: str, change: dict, inline: bool = False) -> str:
        gone = sorted((o for o in self.seen.values() if o.kind == kind and o.freed), key=lambda o: o.id)
        out = []
        for o in gone:
            now = (kind, o.id) in change["freed"]
            out.append(d.tag("span" if inline else "div", d.tag("s", d.esc(_short(o))), " freed",
                             changed_chip("now") if now else "",
                             cls="ukva-freed" + (" ukva-freed-now ukva-changed" if now else ""),
                             style=d.style(border=f"{3 if now else 1}px {'solid' if now else 'dashed'} "
                                                  f"{CHANGE_OUTLINE if now else d.BORDER}",
                                           border_radius="4px", padding="0 4px", margin="1px 0", white_space="nowrap",
                                           color=d.FG if now else d.FAINT,
                                           display="inline-block" if inline else None)))
        return " ".join(out)

    def _narrow(self, rows: list[tuple], change: dict) -> str:
        """Transposed: a row per kind of object, a column per task, so every kind shows in 365 px."""
        cell = d.style(padding="3px 4px", border_bottom=f"1px solid {d.BORDER_FAINT}", vertical_align="middle")
        names = [d.tag("th", self._task_label(t, 0, change), scope="col",
                       cls="ukva-task-row" + (" ukva-new-task ukva-changed" if t.pid in change["new tasks"] else ""),
                       style=f"{cell};text-align:left;font-weight:400;overflow-wrap:anywhere") for t, _ in rows]
        ghosts = [d.tag("th", d.tag("s", d.esc(name)), d.esc(f" (pid {pid})"),
                        d.tag("div", d.esc(why), style="font-size:11px"),
                        cls="ukva-ended ukva-changed", style=f"{cell};{_GHOST};font-weight:400;overflow-wrap:anywhere")
                  for name, pid, why in change["ended"]]
        blanks = [d.tag("th", "", style=cell)] * max(self.most_tasks - len(rows) - len(change["ended"]), 0)
        out = [d.tag("tr", d.tag("th", "", style=f"{cell};width:64px"), *names, *ghosts, *blanks)]
        groups, c = [], 0
        while c < len(rows):
            tgid = rows[c][0].tgid
            n = sum(1 for u, _ in rows[c:] if u.tgid == tgid)
            groups.append(d.tag("td", f"tg {tgid}", colspan=n if n > 1 else None, cls="ukva-thread-group",
                                style=d.style(border_top=f"2px solid {d.MUTED}", color=d.MUTED, font_size="11px",
                                              text_align="center", padding="0 2px")))
            c += n
        # the ghosts' and blank columns, under the task columns' titles
        pad = d.tag("td", "", colspan=len(ghosts) + len(blanks)) if ghosts or blanks else ""
        out.append(d.tag("tr", d.tag("td", ""), *groups, pad))
        for kind in self.kinds:
            cells = [self._object_cell(obj, kind, rows, r, n, change, "colspan")
                     for r, n, obj in self._spans(rows, kind)]
            head = d.tag("th", d.esc(kind), scope="row",
                         style=f"{cell};text-align:left;border-left:4px solid {KIND_COLOUR[kind]}")
            out.append(d.tag("tr", head, *cells, pad))
        freed = "".join(d.tag("div", d.tag("b", d.esc(kind)), " ", self._freed(kind, change, inline=True),
                              style="margin:1px 0")
                        for kind in self.kinds if any(o.kind == kind and o.freed for o in self.seen.values()))
        # A fixed layout over the whole width: the columns share it and their words wrap, never overflow.
        return (d.tag("table", *out, cls="ukva-matrix-transposed",
                      style=d.style(border_collapse="collapse", color=d.FG, font_size="12px", width="100%",
                                    table_layout="fixed"))
                + d.tag("div", d.tag("span", "freed objects: ", style=f"color:{d.MUTED}") + (freed or "none yet"),
                        style=d.style(color=d.FG, font_size="12px", min_height=f"{max(self.most_freed, 1) * 20}px")))

    def snapshot(self) -> str:
        return self.step_label.value + self._matrix_html()

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
            parent = t.parent.pid if t.parent else "-"
            lines.append(f"  task pid {t.pid} {t.comm} tgid {t.tgid} parent {parent} {t.state}")
        for o in self._objects():
            held = "freed" if o.freed else f"refcount {o.refcount} held by {self._holders(o)}"
            lines.append(f"  {o.label:<10} {held}")
        change = self.changes()
        said = (("created", [self.seen[k].label for k in change["created"]]),
                ("freed", [self.seen[k].label for k in change["freed"]]),
                ("re-pointed", [f"pid {pid} {kind}" for pid, kind in change["repointed"]]),
                ("new task", [f"pid {pid}" for pid in change["new tasks"]]),
                ("ended", [f"{name} (pid {pid}): {why}" for name, pid, why in change["ended"]]))
        words = [f"{verb} {', '.join(items)}" for verb, items in said if items]
        if words:
            lines.append("  last step: " + "; ".join(words))
        return "\n".join(lines)


_GHOST = d.style(color=d.MUTED, font_style="italic", border=f"2px dashed {CHANGE_OUTLINE}", padding="2px 6px")
_BRACKET = d.style(height="100%", min_height=f"{ROW_PX - 8}px", min_width="30px", border=f"2px solid {d.MUTED}",
                   border_right="none", border_radius="6px 0 0 6px", display="flex", align_items="center",
                   justify_content="center", font_size="11px", color=d.MUTED, writing_mode="vertical-rl",
                   transform="rotate(180deg)", box_sizing="border-box")


def _object_ids(task) -> dict[str, int | None]:
    """Per kind, the id of the object the task holds (None where it holds none)."""
    return {kind: getattr(task, attr) and getattr(task, attr).id for kind, attr in KIND_ATTR.items()}


def _short(obj) -> str:
    """"#2" for mm#2: the column names the kind (the cell's tooltip gives the whole label)."""
    return obj.label.removeprefix(obj.kind)


def _key_order(key: tuple[str, int]) -> tuple[int, int]:
    return list(KIND_ATTR).index(key[0]), key[1]
