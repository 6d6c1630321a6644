"""The widgets' colours: Okabe & Ito's colour-blind-safe palette (https://jfly.uni-koeln.de/color/),
one colour per kind of thing, and the one cue for "the last step changed this".  Colour is never
the only cue: each kind also has its name written beside or inside it."""

from __future__ import annotations

OKABE_ITO = {
    "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
    "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "grey": "#999999",
}
KIND_COLOUR = {
    "task": OKABE_ITO["sky"], "mm": OKABE_ITO["blue"], "fs": OKABE_ITO["orange"],
    "files": OKABE_ITO["green"], "sighand": OKABE_ITO["purple"], "signal": OKABE_ITO["vermillion"],
    "io": OKABE_ITO["yellow"], "sysvsem": OKABE_ITO["grey"],
}
OK_COLOUR = OKABE_ITO["green"]
BAD_COLOUR = OKABE_ITO["vermillion"]
CPU_COLOUR = KIND_COLOUR["task"]
MM_COLOUR = KIND_COLOUR["mm"]
# "Changed by the last step": a yellow chip with black words (contrast 16:1), and an outline in dark
# gold on the light theme (3.9:1 on white), yellow on the dark one (7.6:1 on its grey): the
# stylesheet sets --ukva-change per theme.
CHANGE_FILL = OKABE_ITO["yellow"]
CHANGE_OUTLINE = "var(--ukva-change, #A07C00)"
# The steps' verbs, in the trace's chips and on the buttons that take them.
ACTION_COLOUR = {"switch": KIND_COLOUR["task"], "read": KIND_COLOUR["files"], "update": KIND_COLOUR["fs"],
                 "finish": KIND_COLOUR["fs"], "write": KIND_COLOUR["sighand"], "evict": KIND_COLOUR["sysvsem"]}
