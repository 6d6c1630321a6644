"""CloneExplorer: tick clone() flags (or pick a glibc preset: the flags glibc passes, FACTS.md §5, as
engine/flags.py PRESETS) and see what the child shares with its caller.

The engine does the clone; this view only draws the result: caller and child as circles, each shared
object once (a rectangle with its refcount) with an arrow from every task that holds it, or the
rule and errno when the combination is refused. A button asks the real kernel (ukva_widgets.real).

CSS classes for browser tests: "ukva-clone-explorer" (the widget), "ukva-flag-<NAME>" on each flag
checkbox (e.g. "ukva-flag-CLONE_VM"), "ukva-preset" (preset dropdown), "ukva-flags-text" (flags text
box, applied on Enter), "ukva-summary" (the table), "ukva-probe" (ask-the-kernel button),
"ukva-probe-result", plus the base classes "ukva-error" and "ukva-graph".
"""

from __future__ import annotations

import traitlets
import ipywidgets as W

from ..engine import PRESETS, CloneError, CloneFlags, Kernel, NotModelled, flag_names, parse_flags
from .base import (BAD_COLOUR, KIND_ATTR, KIND_COLOUR, OK_COLOUR, USER_ERRORS, ErrorBox, Node, NodeLinkFigure,
                   Picture, UkvaWidget, badge, errno_name, esc, label_of, themed_table)

# How the checkboxes are grouped on screen; only names the engine knows are shown.
FLAG_GROUPS = {
    "sharing": ["CLONE_VM", "CLONE_FS", "CLONE_FILES", "CLONE_SIGHAND", "CLONE_IO", "CLONE_SYSVSEM"],
    "thread group": ["CLONE_THREAD", "CLONE_SETTLS", "CLONE_PARENT_SETTID", "CLONE_CHILD_SETTID",
                     "CLONE_CHILD_CLEARTID"],
    "parent / signals": ["CLONE_PARENT", "CLONE_VFORK", "CLONE_CLEAR_SIGHAND", "CLONE_PIDFD",
                         "CLONE_DETACHED", "CLONE_PTRACE", "CLONE_UNTRACED", "CLONE_INTO_CGROUP"],
    "namespaces": ["CLONE_NEWNS", "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET", "CLONE_NEWIPC",
                   "CLONE_NEWUTS", "CLONE_NEWCGROUP", "CLONE_NEWTIME"],
}


class CloneExplorer(UkvaWidget):
    """clone(flags) from a plain process, drawn as tasks and the objects they share."""

    flags = traitlets.Unicode("")

    def __init__(self, flags: int | str = "") -> None:
        self._known = [n for group in FLAG_GROUPS.values() for n in group if n in CloneFlags.__members__]
        self.checkboxes: dict[str, W.Checkbox] = {}
        columns = []
        for title, names in FLAG_GROUPS.items():
            boxes = []
            for name in names:
                if name not in CloneFlags.__members__:
                    continue
                box = W.Checkbox(description=name.removeprefix("CLONE_"), indent=False,
                                 layout=W.Layout(width="auto"))
                box.add_class(f"ukva-flag-{name}")
                box.observe(self._on_checkbox, "value")
                self.checkboxes[name] = box
                boxes.append(box)
            columns.append(W.VBox([W.HTML(f"<b>{esc(title)}</b>"), *boxes], layout=W.Layout(width="25%")))
        self.preset = W.Dropdown(options=[("(choose a preset)", "")] + [(p, p) for p in PRESETS],
                                 description="preset", layout=W.Layout(width="260px"))
        self.preset.add_class("ukva-preset")
        self.preset.observe(self._on_preset, "value")
        self.text_box = W.Text(placeholder="CLONE_VM|CLONE_FS  (Enter to apply)", continuous_update=False,
                               description="flags", style={"description_width": "45px"},
                               layout=W.Layout(width="100%"))
        self.text_box.add_class("ukva-flags-text")
        self.text_box.observe(self._on_text, "value")
        self.probe_button = W.Button(description="ask the real kernel", icon="terminal",
                                     tooltip="run clone() with these flags on this machine and compare",
                                     layout=W.Layout(width="auto"))  # the default width cuts the label
        self.probe_button.add_class("ukva-probe")
        self.probe_button.on_click(self._on_probe)
        self.probe_result = W.HTML()
        self.probe_result.add_class("ukva-probe-result")
        self.summary = W.HTML()
        self.summary.add_class("ukva-summary")
        self.error = ErrorBox()
        self.picture = NodeLinkFigure(height="320px")
        self._syncing = False
        self._probe_text = ""
        # The flags get a row of their own: pthread_create's preset is 124 characters long.
        super().__init__([self.preset, self.text_box, W.HBox(columns), self.error,
                          self.picture.figure, self.summary, W.HBox([self.probe_button, self.probe_result])])
        self.add_class("ukva-clone-explorer")
        self.layout.max_width = "920px"  # room for the 124-character pthread_create preset in the code font
        self.flags = _canonical(flags)
        if not self.flags:  # the default value fires no change, so draw the plain fork here
            self._redraw()

    # -- trait and control handlers: every path funnels into the flags trait -------------------------

    @traitlets.validate("flags")
    def _validate_flags(self, proposal: dict) -> str:
        value = proposal["value"]
        try:
            return _canonical(value)
        except USER_ERRORS as e:
            raise traitlets.TraitError(str(e)) from e

    @traitlets.observe("flags")
    def _on_flags(self, change: dict) -> None:
        self._redraw()

    def _on_checkbox(self, change: dict) -> None:
        if not self._syncing:
            self.flags = "|".join(n for n in self._known if self.checkboxes[n].value)

    def _on_text(self, change: dict) -> None:
        if self._syncing:
            return
        try:
            self.flags = change["new"]
        except traitlets.TraitError as e:
            self.error.show(e.__cause__ or e)  # the engine's own error (ValueError, TypeError)

    def _on_preset(self, change: dict) -> None:
        if change["new"] and not self._syncing:
            self.flags = _canonical(PRESETS[change["new"]])

    def _on_probe(self, _button: W.Button | None = None) -> None:
        # The comparison is the conformance test's own (real.disagreements over the CLI's engine_answer).
        from ..real import disagreements, probe
        from ..real.command import engine_answer
        try:
            flags = int(parse_flags(self.flags or 0))
            real = probe(flags)
            if not real.available:
                self._probe_text = f"the real kernel could not be asked: {real.why}"
            else:
                diffs = disagreements(real, engine_answer(flags))
                self._probe_text = ("disagrees: " + "; ".join(diffs)) if diffs else f"agrees: {real.text()}"
        except USER_ERRORS as e:
            self.error.show(e)
            return
        ok = self._probe_text.startswith("agrees")
        self.probe_result.value = badge(("✓ " if ok else "✗ ") + self._probe_text, OK_COLOUR if ok else BAD_COLOUR)

    # -- engine ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        """Boot a fresh kernel, fork a caller from init, clone from it: the engine decides everything."""
        self.kernel = Kernel()
        self.caller = self.kernel.fork(self.kernel.init)
        self.child = None
        self.clone_error: CloneError | None = None
        self.not_modelled: NotModelled | None = None
        try:
            self.child = self.kernel.clone(self.caller, self.flags or 0)
        except CloneError as e:
            self.clone_error = e
        except NotModelled as e:
            self.not_modelled = e

    # -- views ----------------------------------------------------------------------------------------

    def _redraw(self) -> None:
        self._run()
        self._syncing = True
        try:
            chosen = set(self.flags.split("|")) if self.flags else set()
            with self.hold_sync():
                for name, box in self.checkboxes.items():
                    box.value = name in chosen
                self.text_box.value = self.flags
                self.preset.value = next((p for p, v in PRESETS.items()
                                          if _canonical(v) == self.flags), "")
        finally:
            self._syncing = False
        if self.not_modelled:
            self.error.show(self.not_modelled)
        else:
            self.error.clear()
        self._probe_text = ""
        self.probe_result.value = ""
        self.picture.draw(self._picture())
        self.summary.value = self._summary_html()

    def _rows(self) -> list[tuple[str, object, object]]:
        return [(kind, getattr(self.caller, attr), getattr(self.child, attr)) for kind, attr in KIND_ATTR.items()]

    def _picture(self) -> Picture:
        if self.child is None:
            why = f"✗ {self.clone_error.rule.name}" if self.clone_error else "? not modelled by the engine"
            return Picture([Node(f"pid {self.caller.pid}", 0.08, 0.5, KIND_COLOUR["task"], "circle"),
                            Node(why, 0.55, 0.5, BAD_COLOUR, thick=True)], [])
        # Caller on the left, child on the right, one row per kind of object: a shared object sits
        # in the middle, each task's own copy on its side, so no arrow crosses another node.
        nodes = [Node(f"pid {self.caller.pid}", 0.0, 0.5, KIND_COLOUR["task"], "circle"),
                 Node(f"pid {self.child.pid}", 1.0, 0.5, KIND_COLOUR["task"], "circle")]
        links = []
        rows = [(kind, a, b) for kind, a, b in self._rows() if a is not None or b is not None]
        for row, (kind, a, b) in enumerate(rows):
            y = 1.0 - row / max(len(rows) - 1, 1)
            if a is b:
                nodes.append(Node(f"{a.label} ×{a.refcount}", 0.5, y, KIND_COLOUR[kind], thick=True))
                links += [(0, len(nodes) - 1), (1, len(nodes) - 1)]
                continue
            for task_index, obj, x in ((0, a, 0.27), (1, b, 0.73)):
                if obj is not None:
                    nodes.append(Node(f"{obj.label} ×{obj.refcount}", x, y, KIND_COLOUR[kind]))
                    links.append((task_index, len(nodes) - 1))
        return Picture(nodes, links)

    def _summary_html(self) -> str:
        if self.not_modelled:
            return f'<div style="color:var(--jp-ui-font-color1)">{badge("? not modelled", BAD_COLOUR)}</div>'
        if self.child is None:
            e = self.clone_error
            return (f'<div style="color:var(--jp-ui-font-color1)">{badge("✗ refused", BAD_COLOUR)} '
                    f"clone() fails with <b>{esc(errno_name(e.errno))}</b> — rule <code>{esc(e.rule.name)}</code>: "
                    f"{esc(e.rule.reason)}</div>")
        rows = []
        for kind, a, b in self._rows():
            shared = a is not None and a is b
            rows.append([badge(kind, KIND_COLOUR[kind]), esc(label_of(a)), esc(label_of(b)),
                         badge("shared", OK_COLOUR) if shared else "separate",
                         esc(a.refcount if shared else f"{_count(a)} / {_count(b)}")])
        return themed_table(["object", f"caller pid {self.caller.pid}", f"child pid {self.child.pid}",
                             "shared?", "refcount"], rows)

    def text(self) -> str:
        head = f"CloneExplorer: clone({self.flags or '0'}) from pid {self.caller.pid}"
        if self.not_modelled:
            lines = [head, f"not modelled: {self.not_modelled}"]
        elif self.child is None:
            e = self.clone_error
            lines = [head, f"refused with {errno_name(e.errno)} by rule {e.rule.name}: {e.rule.reason}"]
        else:
            c = self.child
            lines = [head, f"child pid {c.pid}, tgid {c.tgid}, parent pid {c.parent.pid if c.parent else '-'}"]
            for kind, a, b in self._rows():
                if a is not None and a is b:
                    lines.append(f"  {kind:<8} shared    {a.label} refcount {a.refcount}")
                else:
                    lines.append(f"  {kind:<8} separate  {label_of(a)} refcount {_count(a)} / "
                                 f"{label_of(b)} refcount {_count(b)}")
        if self._probe_text:
            lines.append(f"real kernel: {self._probe_text}")
        elif self.error.message and not self.not_modelled:
            lines.append(f"error: {self.error.message}")
        return "\n".join(lines)


def _canonical(spec: int | str) -> str:
    """The flags as the engine names them, in its order: one spelling, so checkboxes, text and presets agree."""
    return "|".join(flag_names(parse_flags(spec)))


def _count(obj) -> object:
    return obj.refcount if obj is not None else "-"
