"""CloneExplorer: tick clone() flags (or pick a glibc preset: the flags glibc passes, notebooks/sources.ipynb §5, as
engine/flags.py PRESETS) and see what the child shares with its caller.

The engine does the clone; this view only draws the result in three columns, "caller's own | shared |
child's own", one row per kind of object (each with its refcount), or the rule and errno when the
combination is refused. The sharing flags and CLONE_THREAD sit beside the picture, the rest under
"more flags". A button asks the real kernel (ukva_widgets.real) about the flags it can probe and
names the ones it leaves out.

CSS classes for browser tests: "ukva-clone-explorer" (the widget), "ukva-flag-<NAME>" on each flag
checkbox (e.g. "ukva-flag-CLONE_VM"), "ukva-more-flags" (the fold with the other flags, opened by its
button "ukva-fold-header"),
"ukva-preset" (preset dropdown), "ukva-flags-text" (flags text box, applied on Enter; plus
"ukva-invalid" while it holds flags that were not applied), "ukva-clone-picture" (the columns:
"ukva-own-caller", "ukva-shared", "ukva-own-child" on the object cells, "ukva-changed" on a kind whose
sharing the last change of flags turned over), "ukva-stale-note" (shown
while the picture is of the last applied flags), "ukva-summary", "ukva-probe" (ask-the-kernel
button), "ukva-probe-result", plus the base class "ukva-error".
"""

from __future__ import annotations

import ipywidgets as W
import traitlets

from ..engine import PRESETS, CloneError, CloneFlags, Kernel, NotModelled, flag_names, parse_flags
from . import draw as d
from .base import KIND_ATTR, USER_ERRORS, ErrorBox, Fold, UkvaWidget, changed_chip, errno_name, label_of
from .palette import BAD_COLOUR, CHANGE_OUTLINE, KIND_COLOUR, OK_COLOUR

# The flags that decide what the picture shows, beside it; the rest fold under "more flags".
MAIN_FLAGS = ["CLONE_VM", "CLONE_FS", "CLONE_FILES", "CLONE_SIGHAND", "CLONE_THREAD", "CLONE_IO", "CLONE_SYSVSEM"]
# How the other checkboxes are grouped; only names the engine knows are shown.
FLAG_GROUPS = {
    "thread group": ["CLONE_SETTLS", "CLONE_PARENT_SETTID", "CLONE_CHILD_SETTID", "CLONE_CHILD_CLEARTID"],
    "parent / signals": ["CLONE_PARENT", "CLONE_VFORK", "CLONE_CLEAR_SIGHAND", "CLONE_PIDFD",
                         "CLONE_DETACHED", "CLONE_PTRACE", "CLONE_UNTRACED", "CLONE_INTO_CGROUP"],
    "namespaces": ["CLONE_NEWNS", "CLONE_NEWUSER", "CLONE_NEWPID", "CLONE_NEWNET", "CLONE_NEWIPC",
                   "CLONE_NEWUTS", "CLONE_NEWCGROUP", "CLONE_NEWTIME"],
}


class CloneExplorer(UkvaWidget):
    """clone(flags) from a plain process, drawn as tasks and the objects they share."""

    flags = traitlets.Unicode("")

    def __init__(self, flags: int | str = "") -> None:
        self._known = [n for n in MAIN_FLAGS + [n for g in FLAG_GROUPS.values() for n in g]
                       if n in CloneFlags.__members__]
        self.checkboxes: dict[str, W.Checkbox] = {}
        main = [self._checkbox(n) for n in MAIN_FLAGS if n in CloneFlags.__members__]
        groups = []
        for title, names in FLAG_GROUPS.items():
            boxes = [self._checkbox(n) for n in names if n in CloneFlags.__members__]
            groups.append(W.VBox([W.HTML(d.tag("b", d.esc(title), style=d.style(color=d.FG))), *boxes],
                                 layout=W.Layout(min_width="170px", flex="1 1 170px")))
        self.more_flags = Fold("more flags (thread setup, parent and signals, namespaces)",
                               W.HBox(groups, layout=W.Layout(flex_flow="row wrap")))
        self.more_flags.add_class("ukva-more-flags")
        self.preset = W.Dropdown(options=[("(choose a preset)", "")] + [(p, p) for p in PRESETS],
                                 description="preset", layout=W.Layout(width="260px", max_width="100%"))
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
        self.probe_result = W.HTML(layout=W.Layout(width="100%"))
        self.probe_result.add_class("ukva-probe-result")
        self.summary = W.HTML()
        self.summary.add_class("ukva-summary")
        self.error = ErrorBox()           # right under the flags box, whose input it is about
        self.probe_error = ErrorBox()     # right under the button
        self.stale_note = W.HTML()
        self.stale_note.add_class("ukva-stale-note")
        self.picture = W.HTML(layout=W.Layout(min_width="0"))
        self.picture.add_class("ukva-clone-picture")
        self._syncing = False
        self._probe_text = ""
        # Beside the picture a column; on a narrow output area, above it, the boxes side by side.
        flags_column = W.VBox([W.HTML('<b style="color:var(--jp-ui-font-color1)">share with the child</b>'),
                               W.GridBox(main, layout=W.Layout(
                                   grid_template_columns="repeat(auto-fill, minmax(110px, 1fr))"))],
                              layout=W.Layout(flex="1 1 170px", max_width="100%"))
        super().__init__([self.preset, self.text_box, self.error,
                          W.HBox([flags_column, W.VBox([self.stale_note, self.picture], layout=W.Layout(
                              flex="3 1 300px", min_width="0"))], layout=W.Layout(flex_flow="row wrap", width="100%")),
                          self.summary, self.more_flags, self.probe_button, self.probe_error, self.probe_result])
        self.add_class("ukva-clone-explorer")
        self.flags = _canonical(flags)
        if not self.flags:  # the default value fires no change, so draw the plain fork here
            self._redraw()

    def _checkbox(self, name: str) -> W.Checkbox:
        box = W.Checkbox(description=name.removeprefix("CLONE_"), indent=False, layout=W.Layout(width="auto"))
        box.add_class(f"ukva-flag-{name}")
        box.observe(self._on_checkbox, "value")
        self.checkboxes[name] = box
        return box

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
            # Next to the box: what was wrong (the engine's words); the picture stays, with a note.
            self.error.show(str(e.__cause__ or e), title="not applied")
            self.text_box.add_class("ukva-invalid")
            self.stale_note.value = d.tag("div", d.esc(f"still showing clone({self.flags or '0'}): the flags typed "
                                                       "above were not applied"),
                                          style=d.style(color=d.MUTED, font_size="12px"))
        else:
            if change["new"] == self.flags or _canonical(change["new"]) == self.flags:
                self._valid()

    def _on_preset(self, change: dict) -> None:
        if change["new"] and not self._syncing:
            self.flags = _canonical(PRESETS[change["new"]])

    def _valid(self) -> None:
        self.error.clear()
        self.text_box.remove_class("ukva-invalid")
        self.stale_note.value = ""

    def _on_probe(self, _button: W.Button | None = None) -> None:
        # The comparison is the conformance test's own (real.disagreements over the CLI's engine_answer).
        # The probe tries the flags it knows how to keep a child alive for; the others it names.
        from ..real import PROBED_FLAGS, disagreements, probe
        from ..real.command import engine_answer
        self.probe_error.clear()
        try:
            flags = int(parse_flags(self.flags or 0))
            tried = flags & sum(PROBED_FLAGS.values())
            left_out = [n for n in flag_names(flags & ~tried)]
            real = probe(tried)
            if not real.available:
                self._probe_text = f"the real kernel could not be asked: {real.why}"
            else:
                diffs = disagreements(real, engine_answer(tried))
                what = "|".join(flag_names(tried)) or "0"
                self._probe_text = (f"disagrees on clone({what}): " + "; ".join(diffs)) if diffs else \
                    f"agrees on clone({what}): {real.text()}"
                if real.recorded:  # the live book, in a browser: no kernel here, only a stored answer
                    self._probe_text += f" (the stored answer of {real.recorded}: a browser page has no kernel to ask)"
            if left_out:
                self._probe_text += (f" (left out {', '.join(left_out)}: the probe can only try "
                                     f"{', '.join(n.removeprefix('CLONE_') for n in PROBED_FLAGS)})")
        except USER_ERRORS as e:
            self.probe_error.show(e)
            self._probe_text = ""
            return
        ok = self._probe_text.startswith("agrees")
        self.probe_result.value = d.chip(("✓ " if ok else "✗ ") + self._probe_text, OK_COLOUR if ok else BAD_COLOUR)

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
        self._valid()
        self.probe_error.clear()
        self._probe_text = ""
        self.probe_result.value = ""
        self.picture.value = self._picture_html()
        self.summary.value = self._summary_html()

    def _rows(self) -> list[tuple[str, object, object]]:
        return [(kind, getattr(self.caller, attr), getattr(self.child, attr)) for kind, attr in KIND_ATTR.items()]

    def _sharing(self) -> dict[str, tuple]:
        """Per kind, what the picture says of it: shared (with its refcount) or each task's own."""
        if self.child is None:
            return {}
        return {kind: ("shared", a.refcount) if a is b and a is not None else ("own", _count(a), _count(b))
                for kind, a, b in self._rows()}

    def _picture_html(self) -> str:
        """Three columns, caller's own | shared | child's own, a row per kind of object either task holds;
        a kind whose sharing the last change of flags turned over is marked."""
        caller, child = self.caller, self.child
        before, self._shown = getattr(self, "_shown", {}), self._sharing()
        cell = d.style(padding="2px 1px", vertical_align="middle", text_align="center")
        task_chip = _chip(KIND_COLOUR["task"])
        who = (d.tag("span", f"caller pid {caller.pid}", style=task_chip),
               d.tag("span", "both", style=f"color:{d.MUTED}"),
               d.tag("span", f"child pid {child.pid}", style=task_chip) if child else
               d.tag("span", "no child", style=_chip(BAD_COLOUR)))
        head = "".join(d.tag("th", t, scope="col", style=f"{cell};font-weight:600")
                       for t in ("", "caller's own", "shared", "child's own"))
        rows = [d.tag("tr", d.tag("td", ""), *(d.tag("td", w, style=cell) for w in who))]
        if child is None:
            why = (f"✗ clone() fails with {d.esc(errno_name(self.clone_error.errno))}: rule "
                   + d.tag("code", d.esc(self.clone_error.rule.name)) if self.clone_error else
                   "? the engine does not model these flags")
            rows.append(d.tag("tr", d.tag("td", ""), d.tag("td", why, colspan=3, style=f"{cell};border:2px solid "
                                                                                      f"{BAD_COLOUR};border-radius:4px")))
        for kind, a, b in self._rows() if child is not None else ():  # every kind: the picture keeps its height
            turned = bool(before) and before.get(kind) != self._shown[kind] and \
                before.get(kind, ("",))[0] != self._shown[kind][0]
            mark = d.tag("div", changed_chip("changed")) if turned else ""
            kind_cell = d.tag("td", d.tag("span", d.esc(kind), style=f"border-bottom:3px solid {KIND_COLOUR[kind]}"),
                              mark, style=f"{cell};text-align:right;white-space:nowrap;padding-right:4px")
            if a is b and a is not None:
                objects = [d.tag("td", ""), d.tag("td", d.tag("span", d.esc(f"◀ {_short(a)} ×{a.refcount} ▶"),
                                                              style=_chip(KIND_COLOUR[kind], 3, shared=True),
                                                              title=a.label),
                                                  cls="ukva-shared", style=cell), d.tag("td", "")]
            else:
                objects = [d.tag("td", d.tag("span", d.esc(f"{_short(o)} ×{o.refcount}"),
                                             style=_chip(KIND_COLOUR[kind]), title=o.label)
                                 if o is not None else d.tag("span", "none", style=f"color:{d.FAINT}"),
                                 cls=cls, style=cell)
                           for cls, o in (("ukva-own-caller", a), ("ukva-own-child", b))]
                objects.insert(1, d.tag("td", ""))
            outline = f"outline:3px solid {CHANGE_OUTLINE};outline-offset:-1px" if turned else ""
            rows.append(d.tag("tr", kind_cell, *objects, cls="ukva-changed" if turned else None, style=outline or None))
        return d.scroll_box(d.tag("table", d.tag("thead", d.tag("tr", head)), d.tag("tbody", *rows),
                                  style=d.style(border_collapse="separate", border_spacing="0 3px", color=d.FG,
                                                font_size="12px", width="100%")))

    def _summary_html(self) -> str:
        if self.not_modelled:
            return d.tag("div", d.chip("? not modelled", BAD_COLOUR), " ", d.esc(self.not_modelled),
                         style=d.style(color=d.FG))
        if self.child is None:
            e = self.clone_error
            return d.tag("div", d.chip("✗ refused", BAD_COLOUR), " clone() fails with ",
                         d.tag("b", d.esc(errno_name(e.errno))), " — rule ", d.tag("code", d.esc(e.rule.name)),
                         ": ", d.esc(e.rule.reason), style=d.style(color=d.FG))
        c = self.child
        group = ("the caller's thread group" if c.tgid == self.caller.tgid
                 else f"a thread group of its own (tgid {c.tgid})")
        return d.tag("div", d.esc(f"child pid {c.pid} is in {group}; its parent is pid "
                                  f"{c.parent.pid if c.parent else '-'}"), style=d.style(color=d.FG, font_size="12px"))

    def snapshot(self) -> str:
        call = d.tag("div", d.tag("code", d.esc(f"clone({self.flags or '0'})")))
        return call + self.picture.value + self.summary.value

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


def _chip(colour: str, width: int = 2, shared: bool = False) -> str:
    return d.style(display="inline-block", border=f"{width}px solid {colour}", border_radius="4px", padding="0 3px",
                   white_space="nowrap", color=d.FG, background=d.BG2 if shared else d.BG1)


def _short(obj) -> str:
    """"#2" for mm#2: the row names the kind (the chip's tooltip gives the whole label)."""
    return obj.label.removeprefix(obj.kind)


def _canonical(spec: int | str) -> str:
    """The flags as the engine names them, in its order: one spelling, so checkboxes, text and presets agree."""
    return "|".join(flag_names(parse_flags(spec)))


def _count(obj) -> object:
    return obj.refcount if obj is not None else "-"
