"""The small inline PNG in alert emails: negatives against the usual level, episode shaded.

Drawn for a phone: the figure is sized in inches at 100 "CSS pixels" per inch and saved at
2x, so at the width a phone shows it (about 360 px) the 9 pt labels read as 12 px text.
matplotlib (Agg) is imported lazily; without it the email simply has no chart.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH_IN, HEIGHT_IN, DPI = 3.6, 1.9, 200
NEG = "#c0392b"
USUAL = "#1f2933"
SHADE = "#f6d365"


@dataclass
class Bin:
    start: dt.datetime
    negatives: float
    expected: float | None = None


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def render_png(bins: Sequence[Bin], *, shade: tuple[dt.datetime, dt.datetime] | None = None,
               step: dt.timedelta, ylabel: str = "negatives",
               day_labels: bool = True) -> bytes | None:
    """Bars of negatives per bin, a line for the usual level, the episode shaded.

    Returns PNG bytes, or None when matplotlib is missing or there is nothing to draw.
    """
    if not bins or not available():
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import dates as mdates
    from matplotlib import pyplot as plt

    def naive(moment: dt.datetime) -> dt.datetime:
        return moment.astimezone(dt.UTC).replace(tzinfo=None)

    xs = [naive(b.start) for b in bins]
    width = step / dt.timedelta(days=1)  # matplotlib date units are days
    fig, ax = plt.subplots(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    try:
        ax.set_facecolor("white")
        if shade:
            ax.axvspan(naive(shade[0]), naive(shade[1]), color=SHADE, alpha=0.55, lw=0,
                       label="episode", zorder=0)
        ax.bar(xs, [b.negatives for b in bins], width=width * 0.9, align="edge", color=NEG,
               label=ylabel, zorder=2)
        if any(b.expected is not None for b in bins):
            # A step line: the usual level is constant within a bin, like the bars.
            ex = [naive(b.start) for b in bins] + [naive(bins[-1].start + step)]
            ey = [b.expected or 0.0 for b in bins]
            ax.step(ex, ey + ey[-1:], where="post", color=USUAL, lw=1.3, label="usual",
                    zorder=3)
        ax.set_xlim(xs[0], naive(bins[-1].start + step))
        ax.set_ylim(bottom=0)
        span_days = (xs[-1] - xs[0]).days + 1
        if day_labels and span_days <= 16:
            ax.xaxis.set_major_locator(mdates.DayLocator(interval=2 if span_days > 8 else 1))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%a\n%-d"))
        else:
            ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%-d %b"))
        ax.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4, integer=True))
        ax.tick_params(labelsize=8, length=2, pad=2, colors="#333333")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(axis="y", color="#dddddd", lw=0.6, zorder=1)
        # Legend above the plot, so it never hides a bar.
        ax.legend(fontsize=8, frameon=False, loc="lower left", bbox_to_anchor=(0, 1.0),
                  ncol=3, handlelength=1.2, borderaxespad=0.1, columnspacing=1.0)
        top = max([b.negatives for b in bins] + [b.expected or 0 for b in bins] + [1])
        ax.set_ylim(0, top * 1.08)
        fig.tight_layout(pad=0.3)
        out = io.BytesIO()
        fig.savefig(out, format="png", dpi=DPI, facecolor="white")
        return out.getvalue()
    finally:
        plt.close(fig)
