"""The shared pieces: the error box, the node-link picture, the palette and its second cues."""

from __future__ import annotations

import pytest

from ukva_widgets.widgets.base import (KIND_COLOUR, OKABE_ITO, ErrorBox, Node, NodeLinkFigure, Picture,
                                       UkvaWidget)


def test_the_error_box_is_hidden_until_it_shows_an_error_and_hidden_again_after():
    box = ErrorBox()
    assert box.layout.display == "none" and box.message == ""
    box.show(ValueError("unknown clone flag 'CLONE_VMM'; did you mean CLONE_VM?"))
    assert box.layout.display is None and "ukva-error-shown" in box._dom_classes
    assert "ValueError" in box.value and "did you mean CLONE_VM?" in box.value
    box.clear()
    assert box.layout.display == "none" and box.value == "" and "ukva-error-shown" not in box._dom_classes


def test_the_error_box_escapes_what_it_shows():
    box = ErrorBox()
    box.show(ValueError("<script>"))
    assert "<script>" not in box.value and "&lt;script&gt;" in box.value


def test_a_new_picture_swaps_the_mark_in_the_same_figure_and_closes_the_old_one():
    fig = NodeLinkFigure()
    figure, old = fig.figure, fig.graph
    fig.draw(Picture([Node("pid 2", 0, 0.5, KIND_COLOUR["task"], "circle"),
                      Node("mm#2 ×2", 0.5, 0.5, KIND_COLOUR["mm"], thick=True)], [(0, 1)]))
    assert fig.figure is figure and figure.marks == [fig.graph] and fig.graph is not old
    assert old.comm is None  # closed
    assert [n["label"] for n in fig.graph.node_data] == ["pid 2", "mm#2 ×2"]
    assert fig.graph.link_data == [{"source": 0, "target": 1}]


def test_second_cues_are_drawn_besides_colour():
    fig = NodeLinkFigure()
    fig.draw(Picture([Node("task", 0, 0, "#000000", "circle"), Node("mm#3 freed", 1, 1, "#DDDDDD", dashed=True),
                      Node("mm#2 ×2", 1, 0, KIND_COLOUR["mm"], thick=True)], []))
    task, freed, shared = fig.graph.node_data
    assert task["shape"] == "circle" and freed["shape"] == "rect"  # tasks round, objects square
    assert "stroke-dasharray" in freed["shape_attrs"] and "stroke-dasharray" not in shared["shape_attrs"]
    assert shared["shape_attrs"]["stroke-width"] > freed["shape_attrs"]["stroke-width"]


def test_every_kind_has_its_own_okabe_ito_colour():
    assert set(KIND_COLOUR.values()) <= set(OKABE_ITO.values())
    assert len(set(KIND_COLOUR.values())) == len(KIND_COLOUR)


def test_a_widget_without_its_own_text_cannot_pass_for_one():
    class Bare(UkvaWidget):
        pass
    with pytest.raises(NotImplementedError):
        Bare().text()
