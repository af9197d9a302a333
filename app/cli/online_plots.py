"""The plot of ``sim2adapt bench online``: per change, each agent's error before and after, recovery, falls.

Drawn into :mod:`app.cli.plot_files`' offscreen layout, as bench adapt's and bench map's plots
are. One panel per measure; within a panel a group of bars per change, one bar per agent, with its
95 % interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.cli.plot_files import export_png, white_layout

PANELS = (
    ("before_mps", "error over the second before the change (m/s)"),
    ("after_mps", "error from the change to the end (m/s)"),
    ("recovery_s", "recovery time (s)"),
    ("falls", "share of episodes that fell"),
)


def write_online_plot(rows: Sequence[Mapping[str, Any]], path: Path, title: str) -> None:
    """Bars of every measure in :data:`PANELS` for the ``rows`` bench online printed (agent x change)."""
    agents = list(dict.fromkeys(str(row["agent"]) for row in rows))
    changes = list(dict.fromkeys(str(row["change"]) for row in rows))
    app, layout = white_layout(title, 800)
    for index, (measure, label) in enumerate(PANELS):
        if index % 2 == 0:
            layout.nextRow()
        plot = layout.addPlot()
        _draw_bars(plot, rows, agents, changes, measure, label, legend=index == 0)
    export_png(app, layout, path)


def _draw_bars(
    plot: Any,
    rows: Sequence[Mapping[str, Any]],
    agents: list[str],
    changes: list[str],
    measure: str,
    label: str,
    *,
    legend: bool,
) -> None:
    import pyqtgraph as pg

    if legend:
        plot.addLegend(offset=(-10, 10), labelTextColor="k")
    for side, text in (("bottom", "change"), ("left", label)):
        axis = plot.getAxis(side)
        axis.setPen("k")
        axis.setTextPen("k")
        axis.setLabel(text, color="k")
        axis.enableAutoSIPrefix(False)  # m/s and s as they are, not in thousandths
    plot.getAxis("bottom").setTicks([list(enumerate(changes))])
    if measure == "falls":  # a share: the whole 0-1 scale
        plot.setYRange(0.0, 1.0)
    width = 0.8 / len(agents)
    cells = {(str(row["agent"]), str(row["change"])): row for row in rows}
    for a, agent in enumerate(agents):
        x, mean, ci = [], [], []
        for c, change in enumerate(changes):
            row = cells.get((agent, change))
            if row is None or not np.isfinite(row[measure]):
                continue
            x.append(c - 0.4 + width * (a + 0.5))
            mean.append(float(row[measure]))
            ci.append(float(np.nan_to_num(row[f"{measure}_ci95"])))
        if not x:
            continue
        colour = pg.intColor(a, hues=max(len(agents), 3))
        plot.addItem(pg.BarGraphItem(x=x, height=mean, width=width * 0.9, brush=colour, name=agent))
        plot.addItem(pg.ErrorBarItem(x=np.array(x), y=np.array(mean), height=2 * np.array(ci), pen="k", beam=width / 3))
