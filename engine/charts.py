"""Server-side SVG charts for the supervision page: a monthly trend and a completion-time distribution.

Hand-written SVG (no script, no external fonts or images), every text escaped, so a chart can be inlined in a
page or saved as a file and reads the same everywhere.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640.0, 280.0
LEFT, RIGHT, TOP, BOTTOM = 56.0, 16.0, 36.0, 48.0
_STYLE = ("text{font-family:Arial,Helvetica,sans-serif;font-size:11px;fill:#333}"
          ".title{font-size:13px;font-weight:bold}.axis{stroke:#999;stroke-width:1}"
          ".grid{stroke:#e5e5e5;stroke-width:1}.bar{fill:#1565c0}.late{fill:#c62828}"
          ".line{fill:none;stroke:#2e7d32;stroke-width:2}.dot{fill:#2e7d32}")


def _n(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _text(x: float, y: float, text: str, anchor: str = "middle", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{klass}>{escape(str(text))}</text>'


def _frame(title: str, body: list[str], label: str) -> str:
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(WIDTH)} {_n(HEIGHT)}" width="{_n(WIDTH)}" '
            f'height="{_n(HEIGHT)}" role="img" aria-label="{escape(label)}"><style>{_STYLE}</style>')
    return "".join([head, _text(WIDTH / 2, 20, title, cls="title"), *body, "</svg>"])


def _axes(y_max: float, ticks: int, fmt) -> list[str]:
    plot_h = HEIGHT - TOP - BOTTOM
    out = [f'<line class="axis" x1="{_n(LEFT)}" y1="{_n(HEIGHT - BOTTOM)}" x2="{_n(WIDTH - RIGHT)}" y2="{_n(HEIGHT - BOTTOM)}"/>',
           f'<line class="axis" x1="{_n(LEFT)}" y1="{_n(TOP)}" x2="{_n(LEFT)}" y2="{_n(HEIGHT - BOTTOM)}"/>']
    for i in range(1, ticks + 1):
        y = HEIGHT - BOTTOM - plot_h * i / ticks
        out.append(f'<line class="grid" x1="{_n(LEFT)}" y1="{_n(y)}" x2="{_n(WIDTH - RIGHT)}" y2="{_n(y)}"/>')
        out.append(_text(LEFT - 6, y + 4, fmt(y_max * i / ticks), anchor="end"))
    out.append(_text(LEFT - 6, HEIGHT - BOTTOM + 4, fmt(0), anchor="end"))
    return out


def rate_trend_svg(title: str, labels: Sequence[str], rates: Sequence[float | None], counts: Sequence[int]) -> str:
    """A line of a rate (0–1) per period over bars of the case count; a period without data leaves a gap."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    body = _axes(1.0, 4, lambda v: f"{v * 100:.0f}%")
    if not labels:
        body.append(_text(WIDTH / 2, TOP + plot_h / 2, "无数据 · no data"))
        return _frame(title, body, title)
    step = plot_w / len(labels)
    top_count = max(max(counts, default=0), 1)
    points: list[str] = []
    for i, (label, rate, count) in enumerate(zip(labels, rates, counts, strict=True)):
        x = LEFT + step * (i + 0.5)
        bar_h = plot_h * 0.35 * count / top_count
        body.append(f'<rect class="bar" opacity="0.25" x="{_n(x - step * 0.3)}" y="{_n(HEIGHT - BOTTOM - bar_h)}" '
                    f'width="{_n(step * 0.6)}" height="{_n(bar_h)}"><title>{escape(f"{label}: {count}")}</title></rect>')
        body.append(_text(x, HEIGHT - BOTTOM + 16, label))
        if count:
            body.append(_text(x, HEIGHT - BOTTOM - bar_h - 4, f"{count} 件"))
        if rate is None:
            if len(points) > 1:
                body.append(f'<polyline class="line" points="{" ".join(points)}"/>')
            points = []
            continue
        y = HEIGHT - BOTTOM - plot_h * rate
        points.append(f"{_n(x)},{_n(y)}")
        body.append(f'<circle class="dot" cx="{_n(x)}" cy="{_n(y)}" r="3"><title>{escape(f"{label}: {rate * 100:.1f}%")}</title></circle>')
    if len(points) > 1:
        body.append(f'<polyline class="line" points="{" ".join(points)}"/>')
    return _frame(title, body, title)


def distribution_svg(title: str, bins: Sequence[tuple[str, int]], late_from: int) -> str:
    """Bars of case counts per completion-time bin; bins from index `late_from` on are drawn as late."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max((n for _, n in bins), default=0)
    ticks = min(max(top, 1), 4)
    # Counts are whole cases: the axis runs to a multiple of the tick count so every tick is an integer.
    top = ticks * math.ceil(max(top, 1) / ticks)
    body = _axes(float(top), ticks, lambda v: f"{v:.0f}")
    if not any(n for _, n in bins):
        body.append(_text(WIDTH / 2, TOP + plot_h / 2, "无数据 · no data"))
    step = plot_w / max(len(bins), 1)
    for i, (label, count) in enumerate(bins):
        x = LEFT + step * i
        bar_h = plot_h * count / top
        cls = "late" if i >= late_from else "bar"
        body.append(f'<rect class="{cls}" x="{_n(x + step * 0.15)}" y="{_n(HEIGHT - BOTTOM - bar_h)}" '
                    f'width="{_n(step * 0.7)}" height="{_n(bar_h)}"><title>{escape(f"{label}: {count}")}</title></rect>')
        body.append(_text(x + step / 2, HEIGHT - BOTTOM + 16, label))
        if count:
            body.append(_text(x + step / 2, HEIGHT - BOTTOM - bar_h - 4, str(count)))
    body.append(_text(WIDTH / 2, HEIGHT - 10, "办理用时 ÷ 承诺时限 · time used ÷ promised limit"))
    return _frame(title, body, title)
