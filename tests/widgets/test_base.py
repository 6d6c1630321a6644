"""The shared pieces: the error box, the palette and its second cues."""

from __future__ import annotations

import pytest

from ukva_widgets.widgets.base import ErrorBox, UkvaWidget
from ukva_widgets.widgets.palette import KIND_COLOUR, OKABE_ITO


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


def test_every_kind_has_its_own_okabe_ito_colour():
    assert set(KIND_COLOUR.values()) <= set(OKABE_ITO.values())
    assert len(set(KIND_COLOUR.values())) == len(KIND_COLOUR)


def test_a_widget_without_its_own_text_cannot_pass_for_one():
    class Bare(UkvaWidget):
        pass
    with pytest.raises(NotImplementedError):
        Bare().text()
