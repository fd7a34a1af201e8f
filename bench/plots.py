"""Draw the benchmark charts (bench/common.Chart) as PNGs with matplotlib."""

from __future__ import annotations

from pathlib import Path

from bench.common import Chart

__all__ = ["draw"]


def draw(chart: Chart, directory: Path) -> Path:
    """Write ``chart`` to ``directory/<name>.png`` and return the path."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot, ticker

    directory.mkdir(parents=True, exist_ok=True)
    crowded = len(chart.curves) > 5  # the legend goes beside the plot
    figure, axes = pyplot.subplots(figsize=(9.5 if crowded else 7, 4.2), dpi=110)
    try:
        for curve in chart.curves:
            xs = [x for x, _ in curve.points]
            ys = [y for _, y in curve.points]
            style = {
                "marker": "o",
                "label": curve.label,
                "linestyle": "--" if curve.dashed else "-",
            }
            if curve.spans:
                below = [max(y - low, 0.0) for y, (low, _) in zip(ys, curve.spans, strict=True)]
                above = [max(high - y, 0.0) for y, (_, high) in zip(ys, curve.spans, strict=True)]
                axes.errorbar(xs, ys, yerr=[below, above], capsize=3, **style)
            else:
                axes.plot(xs, ys, **style)
        if chart.log_x:
            axes.set_xscale("log")
        if chart.log_y:
            axes.set_yscale("log")
        values = (
            [x for c in chart.curves for x, _ in c.points],
            [y for c in chart.curves for _, y in c.points if y > 0],
        )
        for logarithmic, axis, seen in (
            (chart.log_x, axes.xaxis, values[0]),
            (chart.log_y, axes.yaxis, values[1]),
        ):
            if logarithmic:  # 1k, 0.05 and 1M rather than 10^3, 5x10^-2 and 1e+06
                axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _short(v)))
                narrow = bool(seen) and max(seen) / min(seen) < 30
                axis.set_minor_formatter(
                    ticker.FuncFormatter(lambda v, _: _short(v) if f"{v:e}"[0] in "25" else "")
                    if narrow
                    else ticker.NullFormatter()
                )
        distinct = sorted({x for x in values[0] if x > 0})
        if chart.log_x and len(distinct) <= 8:  # ticks at the measured points (connections)
            axes.set_xticks(distinct, [_short(x) for x in distinct])
            axes.xaxis.set_minor_formatter(ticker.NullFormatter())
        if not chart.log_y:
            axes.set_ylim(bottom=0)
        if not chart.log_x:
            axes.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: _short(v)))
        axes.set_title(chart.title, fontsize=11)
        axes.set_xlabel(chart.x_label)
        axes.set_ylabel(chart.y_label)
        axes.grid(True, which="both", alpha=0.3)
        if crowded:
            axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0))
        else:
            axes.legend(fontsize=8)
        figure.tight_layout()
        path = directory / f"{chart.name}.png"
        figure.savefig(path)
    finally:
        pyplot.close(figure)
    return path


def _short(value: float) -> str:
    for size, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}"
