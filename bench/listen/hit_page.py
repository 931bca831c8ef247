"""The HIT page: ``hit_template.html`` with one block per slot.

The page is the same for any systems: it is rendered from the test design and the
number of slots only, and clips reach it as ``${a3}``-style placeholders that AMT
fills from ``hits.csv``, so nothing about the conditions can be in it.  Each clip
is played by a Play/Stop button (no seek bar, so "played to the end" means heard
start to end) and counts its plays and completed plays in hidden fields
``plays_<field>``/``ended_<field>`` that the analysis checks.

Offline behaviour: the page loads AMT's Crowd HTML Elements script and puts its
inputs in ``<crowd-form>``; when the script cannot load, its own code swaps the
``<crowd-form>`` for a plain ``<form>`` posting to ``<turkSubmitTo>/mturk/externalSubmit``
(AMT's classic HTML-question protocol, ``assignmentId`` from the URL), so the page
can be used, and tested, without AMT.
"""

from __future__ import annotations

import html
import importlib.resources
import re

from bench.listen.design import ANSWER_A, ANSWER_B, ANSWER_NP, MOS_LABELS, MOS_SCALE, TestDesign, answer_name, \
    field_name

PAGE_VERSION = "jsac-listen-1"
#: AMT's Crowd HTML Elements, loaded by the page on AMT; the lab server serves the page without it
CROWD_SCRIPT = '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>'
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")
_CLIP_LABELS = {"ref": "Reference", "clip": "Recording", "x": "X (reference)", "a": "A", "b": "B"}


def template_text() -> str:
    return importlib.resources.files("bench.listen").joinpath("hit_template.html").read_text(encoding="utf-8")


def _clip_block(field: str, slot: int) -> str:
    name = field_name(field, slot)
    label = _CLIP_LABELS[field]
    return (f'      <div class="lt-clip"><span class="lt-clip-name">{label}</span>'
            f'<button type="button" class="lt-play" data-field="{name}">&#9654; Play</button>'
            f'<span class="lt-state" data-field="{name}">not played yet</span>'
            f'<audio preload="auto" src="${{{name}}}" data-field="{name}" data-label="{html.escape(label)}"></audio>'
            f'<input type="hidden" name="plays_{name}" value="0">'
            f'<input type="hidden" name="ended_{name}" value="0"></div>')


def _options(design: TestDesign, slot: int) -> str:
    q = answer_name(slot)
    if design.kind == "mos":
        labels = []
        for value in MOS_SCALE:
            text = f"{value:g}"
            word = MOS_LABELS.get(value, "")
            labels.append(f'<label><input type="radio" name="{q}" value="{text}"> {text}'
                          f'<span class="lt-word">{word}</span></label>')
    else:
        choices = [(ANSWER_A, "A"), (ANSWER_B, "B"), (ANSWER_NP, "No preference")]
        labels = [f'<label class="lt-wide"><input type="radio" name="{q}" value="{value}"> {text}</label>'
                  for value, text in choices]
    return '      <div class="lt-options">' + "".join(labels) + "</div>"


def render_page(design: TestDesign, num_slots: int) -> str:
    """The HIT page for ``num_slots`` questions of ``design``."""
    blocks = []
    for slot in range(1, num_slots + 1):
        clips = "\n".join(_clip_block(f, slot) for f in design.clip_fields)
        blocks.append(
            f'  <fieldset class="lt-item" data-slot="{slot}">\n'
            f'    <legend>Item {slot} of {num_slots}</legend>\n'
            f'    <p class="lt-question">{html.escape(design.question)}</p>\n'
            f'    <div class="lt-clips">\n{clips}\n    </div>\n'
            f'{_options(design, slot)}\n'
            f'  </fieldset>')
    replacements = {
        "@@KIND@@": design.kind,
        "@@SLOTS@@": str(num_slots),
        "@@TITLE@@": html.escape(design.title),
        "@@INSTRUCTIONS@@": html.escape(design.instructions),
        "@@VERSION@@": PAGE_VERSION,
        "@@ITEMS@@": "\n".join(blocks),
    }
    page = template_text()
    for marker, value in replacements.items():
        page = page.replace(marker, value)
    return page


def without_crowd_script(page: str) -> str:
    """The page as served off AMT: crowd-form would post to AMT, so the page takes its plain-form path."""
    if CROWD_SCRIPT not in page:
        raise ValueError("the page does not load AMT's crowd-html-elements.js (not a page from this version?)")
    return page.replace(CROWD_SCRIPT, "")


def placeholders(page: str) -> set[str]:
    """The ``${name}`` fields a page expects from the batch CSV."""
    return set(_PLACEHOLDER.findall(page))


def fill(page: str, row: dict[str, str]) -> str:
    """Substitute one ``hits.csv`` row the way AMT does (for previews and tests)."""
    missing = placeholders(page) - set(row)
    if missing:
        raise KeyError(f"hits.csv row lacks {sorted(missing)}")
    return _PLACEHOLDER.sub(lambda m: html.escape(row[m.group(1)], quote=True), page)
