"""The PNGs of ``sim2adapt bench map``: heatmaps over two fields, curves with intervals over one.

Drawn with pyqtgraph offscreen and written by its own image exporter, as ``bench adapt`` does (no
other plotting library is installed). Each heatmap gives cell values as text on small grids and
outlines the family's training range (a field the family does not vary trained at its base value
only, so that side of the outline collapses to a line). Every file is written atomically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from agents.core.performance_model import TRACKING_ERROR, Measure
from app.cli.plot_files import export_png, white_layout

if TYPE_CHECKING:
    from agents.core.task_map import CellResult, MapAxis, MapSpec
    from sim.tasks import TaskDistribution

MAX_LABELLED_CELLS = 144
"""grids up to 12 x 12 print each cell's value on it"""


def _layout(title: str, height: int) -> tuple[Any, Any]:
    """A map's layout: the title across its four columns, then a new row for the panels."""
    app, layout = white_layout(title, height, title_size="12pt", colspan=4)
    layout.nextRow()
    return app, layout


def _style(plot: Any, bottom: str, left: str) -> None:
    for side, label in (("bottom", bottom), ("left", left)):
        axis = plot.getAxis(side)
        axis.setPen("k")
        axis.setTextPen("k")
        axis.setLabel(label, color="k")


def _training_span(family: TaskDistribution | None, axis: MapAxis) -> tuple[float, float] | None:
    """The family's range of ``axis``'s field (its base value when not varied); None without a family."""
    from sim.params import get_value
    from sim.tasks import UniformRange

    if family is None:
        return None
    varied = family.vary.get(axis.path)
    if isinstance(varied, UniformRange):
        return varied.low, varied.high
    base = float(get_value(family.base, axis.path))
    return base, base


def _heatmap(
    layout: Any,
    spec: MapSpec,
    grid: NDArray[np.float64],
    *,
    title: str,
    label: str,
    levels: tuple[float, float],
    colour_map: str,
    family: TaskDistribution | None,
) -> None:
    """One heatmap of ``grid`` (``[rows = y, columns = x]``) at the grid's field values, with a colour bar."""
    import pyqtgraph as pg
    from PySide6.QtCore import QRectF

    assert spec.y is not None
    plot = layout.addPlot(title=f"<span style='color:black'>{title}</span>")
    _style(plot, spec.x.path, spec.y.path)
    xs, ys = np.asarray(spec.x.values()), np.asarray(spec.y.values())
    dx, dy = (xs[-1] - xs[0]) / (len(xs) - 1), (ys[-1] - ys[0]) / (len(ys) - 1)
    image = pg.ImageItem(np.nan_to_num(grid, nan=levels[0]).T)  # pyqtgraph's images are [x, y]
    image.setRect(QRectF(xs[0] - dx / 2, ys[0] - dy / 2, dx * len(xs), dy * len(ys)))
    plot.addItem(image)
    bar = pg.ColorBarItem(values=levels, colorMap=pg.colormap.get(colour_map), label=label, interactive=False)
    bar.setImageItem(image, insert_in=plot)
    if grid.size <= MAX_LABELLED_CELLS:
        for (iy, ix), value in np.ndenumerate(grid):
            if math.isfinite(value):
                text = pg.TextItem(f"{value:.2f}", color="k", fill=pg.mkBrush(255, 255, 255, 170), anchor=(0.5, 0.5))
                text.setPos(xs[ix], ys[iy])
                plot.addItem(text)
    span_x, span_y = _training_span(family, spec.x), _training_span(family, spec.y)
    if span_x is not None and span_y is not None:
        (x0, x1), (y0, y1) = span_x, span_y
        pen = pg.mkPen("r", width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
        plot.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], pen=pen, symbol="x" if (x0, y0) == (x1, y1) else None)


def _curve(
    plot: Any,
    spec: MapSpec,
    results: list[CellResult],
    value: Callable[[CellResult], tuple[float, float]],
    *,
    name: str,
    colour: str,
) -> None:
    """A line of ``value(result) = (mean, 95 % half-width)`` over x, with error bars (unmeasured points left out)."""
    import pyqtgraph as pg

    xs = np.asarray([r.cell.x for r in results])
    means, cis = (np.asarray(v) for v in zip(*(value(r) for r in results), strict=True))
    shown = np.isfinite(means)
    if not shown.any():
        return
    plot.plot(xs[shown], means[shown], pen=pg.mkPen(colour, width=2), symbol="o", symbolBrush=colour, name=name)
    bars = pg.ErrorBarItem(x=xs[shown], y=means[shown], height=2 * np.nan_to_num(cis[shown]), pen=pg.mkPen(colour))
    plot.addItem(bars)


def _episode(measure: str, episode: int) -> Callable[[CellResult], tuple[float, float]]:
    return lambda r: (float(r.mean(measure)[episode]), float(r.ci95(measure)[episode]))


def _gain(result: CellResult) -> tuple[float, float]:
    """Mean gain and its 95 % half-width over seeds (NaN with one seed)."""
    from agents.core.evaluation import t95

    gain = result.gain()
    if gain.size < 2:
        return float(gain.mean()), math.nan
    return float(gain.mean()), t95(gain.size - 1) * float(gain.std(ddof=1)) / math.sqrt(gain.size)


def write_map_plots(
    spec: MapSpec, results: list[CellResult], stem: Path, *, family: TaskDistribution | None, title: str
) -> list[Path]:
    """Heatmaps (two fields: ``STEM-tracking.png``, ``-falls.png``, ``-gain.png``) or curves (``STEM.png``).

    Nothing is drawn for an env that measures no tracking error (the toy): returns the files written.
    """
    if not any(np.isfinite(r.per_seed("tracking_error_mps")).any() for r in results):
        return []
    after = f"after {spec.shots}"
    if spec.y is None:
        return [_write_curves(spec, results, stem.with_name(f"{stem.name}.png"), title=title, after=after)]
    from agents.core.task_map import grid_values

    def grid(measure: str, episode: int) -> NDArray[np.float64]:
        return grid_values(spec, results, lambda r: float(r.mean(measure)[episode]))

    written = []
    error = (grid("tracking_error_mps", 0), grid("tracking_error_mps", -1))
    top = float(np.nanmax(np.concatenate([e.ravel() for e in error]))) or 1.0
    pages = [
        ("tracking", "tracking error (m/s)", error, (0.0, top), "viridis"),
        (
            "falls",
            "share of episodes that fall",
            (grid("fall_share", 0), grid("fall_share", -1)),
            (0.0, 1.0),
            "inferno",
        ),
    ]
    for suffix, label, (before_grid, after_grid), levels, colour_map in pages:
        app, layout = _layout(f"{title}: {label}, before and {after} adaptation episode(s)", 560)
        for name, values in (("before adapting", before_grid), (f"{after} episode(s)", after_grid)):
            _heatmap(layout, spec, values, title=name, label=label, levels=levels, colour_map=colour_map, family=family)
        written.append(export_png(app, layout, stem.with_name(f"{stem.name}-{suffix}.png")))
    gain = grid_values(spec, results, lambda r: _gain(r)[0])
    reach = float(np.nanmax(np.abs(gain))) or 1.0
    app, layout = _layout(f"{title}: gain from adapting (error before - after, m/s; > 0: adapting helped)", 560)
    _heatmap(layout, spec, gain, title="gain", label="m/s", levels=(-reach, reach), colour_map="CET-D1", family=family)
    written.append(export_png(app, layout, stem.with_name(f"{stem.name}-gain.png")))
    return written


def _write_curves(spec: MapSpec, results: list[CellResult], path: Path, *, title: str, after: str) -> Path:
    """Three panels over x: tracking error and falls before / after adapting, and the gain, with 95 % intervals."""
    app, layout = _layout(f"{title}: over {spec.x.path}, mean and 95 % interval over {spec.seeds} seed(s)", 420)
    panels = [("tracking_error_mps", "tracking error (m/s)"), ("fall_share", "share of episodes that fall")]
    for measure, label in panels:
        plot = layout.addPlot()
        plot.addLegend(offset=(-10, 10), labelTextColor="k")
        _style(plot, spec.x.path, label)
        _curve(plot, spec, results, _episode(measure, 0), name="before adapting", colour="#888888")
        _curve(plot, spec, results, _episode(measure, -1), name=f"{after} episode(s)", colour="#1f77b4")
    plot = layout.addPlot()
    _style(plot, spec.x.path, "gain from adapting (m/s)")
    _curve(plot, spec, results, _gain, name="gain", colour="#2ca02c")
    return export_png(app, layout, path)


def write_prediction_plot(
    spec: MapSpec,
    mean: NDArray[np.float64],
    std: NDArray[np.float64],
    path: Path,
    *,
    title: str,
    measure: Measure = TRACKING_ERROR,
) -> Path:
    """The model's predicted ``measure`` after adapting and its uncertainty: two heatmaps, or a curve with a band.

    A map's model predicts tracking error (m/s, from 0 up); a training run's predicts the return of its
    training episodes, which may be negative, so the colour range follows the values.
    """
    import pyqtgraph as pg

    app, layout = _layout(title, 560 if spec.y is not None else 420)
    heading = f"PREDICTED {measure.label}"
    if spec.y is not None:
        low = 0.0 if measure == TRACKING_ERROR else float(np.nanmin(mean))
        top = max(float(np.nanmax(mean)), low + 1e-6)
        _heatmap(
            layout, spec, mean, title=heading, label=measure.unit or "return",
            levels=(low, top), colour_map="viridis", family=None,
        )  # fmt: skip
        _heatmap(
            layout, spec, std, title="uncertainty of the prediction (std)", label=measure.unit or "return",
            levels=(0.0, max(float(np.nanmax(std)), 1e-6)), colour_map="cividis", family=None,
        )  # fmt: skip
    else:
        plot = layout.addPlot(title=f"<span style='color:black'>{heading}</span>")
        _style(plot, spec.x.path, measure.label + (f" ({measure.unit})" if measure.unit else ""))
        xs = np.asarray(spec.x.values())
        low = pg.PlotDataItem(xs, mean[0] - 1.96 * std[0])
        high = pg.PlotDataItem(xs, mean[0] + 1.96 * std[0])
        plot.addItem(pg.FillBetweenItem(low, high, brush=pg.mkBrush(31, 119, 180, 60)))
        plot.plot(xs, mean[0], pen=pg.mkPen("#1f77b4", width=2))
    return export_png(app, layout, path)
