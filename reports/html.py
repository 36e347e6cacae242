"""Small HTML builders shared by the report's sections: escaped text, sortable tables, view switches."""

from __future__ import annotations

import html

NUM = ' class="num"'


def esc(text: object) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def numeric(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def table(head: list[str], rows: list[list[tuple[str, object]]], *, cls: str = "") -> str:
    """`rows` cells are (escaped html, sort value); the sort value goes to `data-v` for the sorting script."""
    ths = "".join(f"<th scope=\"col\">{h}</th>" for h in head)
    trs = []
    for row in rows:
        tds = "".join(f'<td{NUM if numeric(v) else ""} data-v="{esc("" if v is None else v)}">{cell}</td>'
                      for cell, v in row)
        trs.append(f"<tr>{tds}</tr>")
    return f'<table class="{cls}"><thead><tr>{ths}</tr></thead><tbody>{"".join(trs)}</tbody></table>'


def view_select(label: str, options: list[tuple[str, str]], target: str) -> str:
    """A <select> that shows one panel of the container `target` at a time; `options` are (panel id, text)."""
    items = "".join(f'<option value="{esc(value)}">{esc(text)}</option>' for value, text in options)
    return (f'<label class="view-label">{esc(label)} <select class="view-select" data-target="{esc(target)}">'
            f'{items}</select></label>')


def panels(container: str, contents: list[tuple[str, str]]) -> str:
    """The panels a `view_select` switches between: the first shown, the others hidden until chosen."""
    parts = [f'<div class="panel" id="{esc(panel_id)}"{"" if i == 0 else " hidden"}>{body}</div>'
             for i, (panel_id, body) in enumerate(contents)]
    return f'<div class="panels" id="{esc(container)}">{"".join(parts)}</div>'
