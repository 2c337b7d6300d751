"""The report's plots, drawn from evidence records.

A claim declares its plots next to its checks (Claim(plots=(PlotKind(...), ...))); every record of the claim carries
the declarations as data (PlotKind.to_json), so a report drawn from claims.json alone, or on the xdist controller,
knows them. A plot is drawn for every distinct set of the kind's keys that some record (of any scale) holds. Where a
record has the document's numbers under the same keys, they are drawn in a panel of their own beside the measured
ones, and the caption says which task, model and scale each came from, in the words of the check's `setting` (which
says so where the task is a stand-in): a stand-in is never drawn as if it were the document's setting.
Activations are drawn in their registry colours and names. matplotlib is imported only when drawing, and drawn
through its Agg canvas (no display, no pyplot state); without it the report is written without plots and says why.
"""
from __future__ import annotations

import importlib.util
import io
import json
import textwrap
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping, Protocol

import numpy as np

DOCUMENT_STYLE = {"linestyle": "--", "marker": "s", "markerfacecolor": "white", "alpha": 0.8}
LINESTYLES = ("-", "--", "-.", ":")
DPI = 100
MISSING_MATPLOTLIB = ("No plots: matplotlib is not installed (pip install -e '.[dev]' adds it); "
                      "every number is still in the tables.")
# Measured keys a check may set to say in words where its numbers come from (task, model, budget, seeds), and where
# the document's numbers it stands beside come from; strings, so baselines and the ledger pass them by.
SETTING, DOCUMENT_SETTING = "setting", "document_setting"
OWN_SETTING = "the document's numbers, from its own setting"    # when a record does not say which
TITLE_WIDTH = 60            # characters per line of a panel title


def _style(act: str) -> tuple[str, str]:
    """An activation's display name and colour, from the registry (grey for a name it does not hold)."""
    from models.activations import ACTIVATIONS
    entry = ACTIVATIONS.get(act)
    return (entry.display, entry.colour) if entry else (act, "C7")


def where_from(scale: str, measured: Mapping[str, Any], with_document: bool) -> str:
    """One sentence: the task, model and scale the measured numbers came from, and, with the document's numbers
    beside them, where those came from."""
    setting = f" on {measured[SETTING]}" if SETTING in measured else ""
    document = f"; beside them, {measured.get(DOCUMENT_SETTING, OWN_SETTING)}" if with_document else ""
    return f"Measured at {scale} scale{setting}{document}."


def _array(value: Any) -> np.ndarray:
    """Measured lists as floats; non-finite numbers arrive as the strings "nan" and "inf", which numpy parses."""
    return np.asarray(value, dtype=float)


class Drawing(Protocol):
    needs: tuple[str, ...]
    optional: tuple[str, ...]

    def draw(self, fig: Any, values: Mapping[str, Any], document: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class Series:
    """One line per activation of y against x, with optional ± spread error bars; the document's numbers under the
    same keys in a second panel (dashed, hollow markers), each panel titled with the setting its numbers came from."""

    x: str
    y: str                      # key template: {} is the activation
    acts: tuple[str, ...]
    xlabel: str
    ylabel: str
    spread: str = ""            # key template of the error bars, if any
    log: bool = False

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.x, *(self.y.format(a) for a in self.acts))

    @property
    def optional(self) -> tuple[str, ...]:
        spreads = tuple(self.spread.format(a) for a in self.acts) if self.spread else ()
        return (*spreads, SETTING, DOCUMENT_SETTING)

    def draw(self, fig: Any, values: Mapping[str, Any], document: Mapping[str, Any]) -> None:
        x = _array(values[self.x])
        documented = [a for a in self.acts if self.y.format(a) in document
                      and np.size(document[self.y.format(a)]) == x.size]
        axes = fig.subplots(1, 1 + bool(documented), sharey=True, squeeze=False)[0]
        for act in self.acts:
            label, colour = _style(act)
            spread = values.get(self.spread.format(act)) if self.spread else None
            axes[0].errorbar(x, _array(values[self.y.format(act)]), yerr=None if spread is None else _array(spread),
                             color=colour, marker="o", capsize=3,
                             label=f"{label}, measured" + (" (± 1 sd over seeds)" if spread else ""))
        axes[0].set_title(_wrapped("measured" + (f": {values[SETTING]}" if SETTING in values else "")))
        for act in documented:
            label, colour = _style(act)
            axes[1].plot(x, _array(document[self.y.format(act)]), color=colour, label=f"{label}, document",
                         **DOCUMENT_STYLE)
        if documented:
            axes[1].set_title(_wrapped(values.get(DOCUMENT_SETTING, OWN_SETTING)))
        axes[0].set_ylabel(self.ylabel)
        for ax in axes:
            ax.set(xlabel=self.xlabel, xticks=x)
            if self.log:
                _log_scale(ax)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize="small")


def _wrapped(title: str) -> str:
    return textwrap.fill(title, TITLE_WIDTH)


def _log_scale(ax: Any) -> None:
    """A log axis labelled with plain numbers (0.03, 0.2), not powers of ten; between powers of ten only 2, 3 and 5
    times one are labelled, so the labels do not crowd."""
    from matplotlib.ticker import FormatStrFormatter, FuncFormatter
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.yaxis.set_minor_formatter(FuncFormatter(
        lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** np.floor(np.log10(v))) in (2, 3, 5) else ""))


@dataclass(frozen=True)
class LayerTraces:
    """One panel per activation, one line per hidden layer: y[layer][i] against x[i]."""

    x: str
    y: str                      # key template: {} is the activation; the value is [layers][len(x)]
    acts: tuple[str, ...]
    xlabel: str
    ylabel: str
    ylim: tuple[float | None, float | None] | None = None   # None at an end: that end follows the data
    activation_range: bool = False    # the y axis spans the activation's output range (from the registry)
    optional: tuple[str, ...] = ()

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.x, *(self.y.format(a) for a in self.acts))

    def _ylim(self, act: str) -> tuple[float | None, float | None] | None:
        from models.activations import ACTIVATIONS
        bounds = ACTIVATIONS[act].output_range if self.activation_range and act in ACTIVATIONS else None
        return bounds if bounds and all(np.isfinite(bounds)) else self.ylim

    def draw(self, fig: Any, values: Mapping[str, Any], document: Mapping[str, Any]) -> None:
        x = _array(values[self.x])
        for ax, act in zip(fig.subplots(1, len(self.acts), squeeze=False)[0], self.acts):
            layers = _array(values[self.y.format(act)])
            colours = _layer_colours(len(layers))
            for i, (row, colour) in enumerate(zip(layers, colours)):
                ax.plot(x, row, color=colour, label=f"hidden layer {i + 1}")
            ax.set(title=_style(act)[0], xlabel=self.xlabel, ylabel=self.ylabel, ylim=self._ylim(act))
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")


def _layer_colours(count: int) -> list:
    from matplotlib import colormaps
    return [colormaps["viridis"](0.85 * i / max(count - 1, 1)) for i in range(count)]


@dataclass(frozen=True)
class CurvesAndMaps:
    """A loss curve per activation (the document's final loss as a dotted line, the step the check judged as a
    grey one), then per activation a map of one net's P(class 1) over the input plane with its 0.5 contour and the
    training points."""

    steps: str
    curve: str                  # key template: loss at each step
    grid_x: str
    grid_y: str
    probability: str            # key template: [len(grid_y)][len(grid_x)]
    points: str                 # [[x, y, label], ...]
    final_document: str         # document key template of the final loss
    acts: tuple[str, ...]
    budget: str = ""            # optional key: the number of steps the check judged

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.steps, self.grid_x, self.grid_y, self.points,
                *(k.format(a) for a in self.acts for k in (self.curve, self.probability)))

    @property
    def optional(self) -> tuple[str, ...]:
        return (self.budget,) if self.budget else ()

    def draw(self, fig: Any, values: Mapping[str, Any], document: Mapping[str, Any]) -> None:
        axes = fig.subplots(1, 1 + len(self.acts))
        self._draw_curves(axes[0], values, document)
        gx, gy, points = _array(values[self.grid_x]), _array(values[self.grid_y]), _array(values[self.points])
        for ax, act in zip(axes[1:], self.acts):
            shade = ax.contourf(gx, gy, _array(values[self.probability.format(act)]), levels=np.linspace(0, 1, 11),
                                cmap="RdBu_r", alpha=0.75)
            ax.contour(gx, gy, _array(values[self.probability.format(act)]), levels=[0.5], colors="black")
            ax.scatter(points[:, 0], points[:, 1], c=points[:, 2], cmap="RdBu_r", vmin=0, vmax=1, s=8,
                       edgecolors="white", linewidths=0.4)
            ax.set(title=f"{_style(act)[0]}: P(class 1), black line 0.5", xlabel="x1", ylabel="x2", aspect="equal")
        fig.colorbar(shade, ax=axes[1:], label="P(class 1)", shrink=0.8)

    def _draw_curves(self, ax: Any, values: Mapping[str, Any], document: Mapping[str, Any]) -> None:
        steps = _array(values[self.steps])
        for act in self.acts:
            label, colour = _style(act)
            ax.plot(steps, _array(values[self.curve.format(act)]), color=colour, label=f"{label}, measured (mean)")
            final = document.get(self.final_document.format(act))
            if isinstance(final, (int, float)):
                ax.axhline(final, color=colour, linestyle=":", label=f"{label}, document's final loss")
        if isinstance(budget := values.get(self.budget), (int, float)):
            ax.axvline(budget, color="grey", linestyle="-.", label=f"step {budget:g}: judged by this check")
        ax.set(title="training loss", xlabel="step", ylabel="loss (log scale)")
        _log_scale(ax)
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize="small")


@dataclass(frozen=True)
class ActivationCurves:
    """Every activation of the registry and its hand-written derivative: those with a bounded output range in one
    pair of panels, the others in the other, so each group's derivatives compare at a glance."""

    needs: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    span: float = 4.0

    def draw(self, fig: Any, values: Mapping[str, Any], document: Mapping[str, Any]) -> None:
        import torch
        from models.activations import ACTIVATIONS
        x = torch.linspace(-self.span, self.span, 401, dtype=torch.float64)
        groups = {"unbounded": [a for a in ACTIVATIONS.values() if not np.isfinite(a.output_range).all()],
                  "bounded": [a for a in ACTIVATIONS.values() if np.isfinite(a.output_range).all()]}
        axes = fig.subplots(2, 2, sharex=True)
        for (group, acts), (ax_f, ax_d) in zip(groups.items(), axes):
            for act, colour, dashes in zip(acts, [a.colour for a in acts], LINESTYLES * len(acts)):
                ax_f.plot(x.numpy(), act(x).numpy(), color=colour, linestyle=dashes, label=act.name)
                ax_d.plot(x.numpy(), act.derivative(x).numpy(), color=colour, linestyle=dashes, label=act.name)
            ax_f.set(title=f"{group} output: f(x)", ylabel="f(x)")
            ax_d.set(title=f"{group} output: derivative f'(x)", ylabel="f'(x)")
            ax_f.legend(fontsize="small", ncols=2)
        for ax in axes.flat:
            ax.axhline(0, color="grey", linewidth=0.5)
            ax.axvline(0, color="grey", linewidth=0.5)
            ax.grid(alpha=0.3)
        for ax in axes[-1]:
            ax.set_xlabel("x")


@dataclass(frozen=True)
class PlotKind:
    """A plot a claim declares: its name, title, drawing (Series, LayerTraces or CurvesAndMaps) and size; `borrow`
    maps a key to the claim whose same-scale record may supply it when the record drawn lacks it."""

    name: str
    title: str
    figure: Drawing
    size: tuple[float, float] = (6.4, 4.2)
    borrow: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"name": self.name, "title": self.title, "figure": type(self.figure).__name__,
                "arguments": asdict(self.figure), "size": list(self.size), "borrow": dict(self.borrow)}


def kind_from_json(spec: Mapping[str, Any]) -> PlotKind:
    arguments = {k: tuple(v) if isinstance(v, list) else v for k, v in spec["arguments"].items()}
    return PlotKind(spec["name"], spec["title"], FIGURES[spec["figure"]](**arguments), tuple(spec["size"]),
                    dict(spec.get("borrow", {})))


FIGURES = {figure.__name__: figure for figure in (Series, LayerTraces, CurvesAndMaps)}
REGISTRY_PLOT = PlotKind("activations", "The activations and their derivatives", ActivationCurves(), (11.0, 7.0))


def declared(records: list[dict]) -> list[tuple[str, PlotKind]]:
    """(claim, kind) for every plot the records' claims declare, once each, in the records' order."""
    specs = {(r["claim"], spec["name"]): spec for r in records for spec in r.get("plots", [])}
    return [(claim, kind_from_json(spec)) for (claim, _), spec in specs.items()]


@dataclass(frozen=True)
class Plot:
    kind: str
    claim: str | None
    scale: str | None
    checks: tuple[str, ...]     # the checks whose records hold these values
    title: str
    filename: str
    png: bytes
    about: str = ""             # where the numbers came from (task, model, scale), for the caption


@dataclass(frozen=True)
class Drawn:
    plots: list[Plot]
    notes: list[str]            # why plots are missing: no matplotlib, or a record a plot could not be drawn from

    def of(self, claim: str | None) -> list[Plot]:
        return [p for p in self.plots if p.claim == claim]


@dataclass(frozen=True)
class _Data:
    scale: str | None
    checks: list[str]
    values: dict[str, Any]
    document: Mapping[str, Any]


def _borrowed(key: str, claim: str, scale: str, records: list[dict]) -> Any:
    return next((r["measured"][key] for r in records
                 if r["claim"] == claim and r["scale"] == scale and key in r.get("measured", {})), None)


def _values(kind: PlotKind, record: dict, records: list[dict]) -> dict[str, Any] | None:
    """The kind's keys from this record (or, for a borrowed key, a same-scale record of the named claim)."""
    measured = record.get("measured", {})
    values = {k: measured[k] for k in kind.figure.optional if k in measured}
    for key in kind.figure.needs:
        value = measured.get(key)
        if value is None and key in kind.borrow:
            value = _borrowed(key, kind.borrow[key], record["scale"], records)
        if value is None:
            return None
        values[key] = value
    return values


def _datasets(claim: str, kind: PlotKind, records: list[dict]) -> list[_Data]:
    """One per distinct set of values among the claim's records, per scale, naming the checks that hold it."""
    found: dict[tuple[str, str], _Data] = {}
    for record in sorted((r for r in records if r["claim"] == claim), key=lambda r: (r["scale"], r["check"])):
        values = _values(kind, record, records)
        if values is not None:
            data = _Data(record["scale"], [], values, record.get("document", {}))
            found.setdefault((record["scale"], json.dumps(values, sort_keys=True)), data).checks.append(record["check"])
    return list(found.values())


def render_figure(draw: Callable[[Any], None], size: tuple[float, float], title: str = "") -> bytes:
    """A PNG of what `draw` puts on a fresh figure, through matplotlib's Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig)
    if title:
        fig.suptitle(title, fontweight="bold")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _render(kind: PlotKind, data: _Data) -> bytes:
    return render_figure(lambda fig: kind.figure.draw(fig, data.values, data.document), kind.size,
                         kind.title + (f" ({data.scale} scale)" if data.scale else ""))


_REGISTRY_PLOTS: dict[tuple, bytes] = {}


def _registry_plot() -> bytes:
    """The plot that reads no record, only the activations registry, is the same in every report a process writes:
    drawn once per registry."""
    from models.activations import ACTIVATIONS
    key = (REGISTRY_PLOT.name, tuple((name, act.origin, id(act.fn)) for name, act in ACTIVATIONS.items()))
    if key not in _REGISTRY_PLOTS:
        _REGISTRY_PLOTS[key] = _render(REGISTRY_PLOT, _Data(None, [], {}, {}))
    return _REGISTRY_PLOTS[key]


def _filename(claim: str, kind: PlotKind, data: _Data, index: int) -> str:
    parts = [claim, kind.name, data.scale or "", str(index + 1) if index else ""]
    return "-".join(p for p in parts if p) + ".png"


VERDICT_COLOURS = {"supported": "#1a7f37", "refuted": "#cf222e", "inconclusive": "#d0d7de"}
CONDITIONS = "conditions"   # the plot kind of a conditions map, drawn for every record that holds one


def _draw_conditions(fig: Any, conditions: Mapping[str, Any]) -> None:
    """A grid of cells coloured by verdict, each with its effect and interval; the document's cell outlined."""
    from matplotlib.patches import Rectangle
    rows, columns = conditions["rows"], conditions["columns"]
    named = rows["document"] is not None or columns["document"] is not None
    ax = fig.subplots()
    for cell in conditions["cells"]:
        i, j = rows["values"].index(cell["row"]), columns["values"].index(cell["column"])
        d = cell["decision"]
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, facecolor=VERDICT_COLOURS[d["verdict"]], alpha=0.8))
        lo, hi = _array(d["interval"])
        ax.text(j, i, f"{d['verdict']}\n{float(d['effect']):.3g}\n[{lo:.3g}, {hi:.3g}]\nvs {float(d['threshold']):.3g}",
                ha="center", va="center", fontsize="small",
                color="black" if d["verdict"] == "inconclusive" else "white")
        if named and _is_documents_setting(rows, cell["row"]) and _is_documents_setting(columns, cell["column"]):
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, linewidth=3, edgecolor="black"))
    ax.set(xlim=(-0.5, len(columns["values"]) - 0.5), ylim=(len(rows["values"]) - 0.5, -0.5),
           xticks=range(len(columns["values"])), yticks=range(len(rows["values"])),
           xticklabels=[f"{v:g}" if isinstance(v, float) else str(v) for v in columns["values"]],
           yticklabels=[f"{v:g}" if isinstance(v, float) else str(v) for v in rows["values"]],
           xlabel=columns["name"], ylabel=rows["name"])
    ax.set_title(_wrapped(conditions["summary"] + ("; outlined: the document's setting" if named else "")),
                 fontsize="small")


def _is_documents_setting(axis: Mapping[str, Any], value: Any) -> bool:
    """Whether `value` is the document's setting on this axis (any value, where the document names none), for
    outlining its cells; nothing is outlined where the document names no value on either axis."""
    return axis["document"] is None or value == axis["document"]


def _render_conditions(record: dict) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    rows, columns = record["conditions"]["rows"], record["conditions"]["columns"]
    fig = Figure(figsize=(2.2 + 1.9 * len(columns["values"]), 1.6 + 1.1 * len(rows["values"])), layout="constrained")
    FigureCanvasAgg(fig)
    _draw_conditions(fig, record["conditions"])
    fig.suptitle(_wrapped(f"{_map_title(record)} ({record['scale']} scale)"), fontweight="bold", fontsize="medium")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _map_title(record: dict) -> str:
    return f"Conditions map: {record['check'].removeprefix('test_').replace('_', ' ')}"


def _conditions_plots(records: list[dict]) -> tuple[list[Plot], list[str]]:
    """One map per record that holds a conditions map; a note for each that could not be drawn."""
    plots, notes = [], []
    for r in (r for r in records if r.get("conditions")):
        try:
            png = _render_conditions(r)
        except (ValueError, TypeError, IndexError, KeyError) as error:  # a malformed map: say so, draw the rest
            notes.append(f"conditions map ({r['scale']}, {r['check']}) not drawn: {error}")
            continue
        name = "-".join((r["claim"], r.get("test", r["check"]).replace("[", "-").strip("]"), "map"))
        plots.append(Plot(CONDITIONS, r["claim"], r["scale"], (r["check"],), _map_title(r), f"{name}.png", png,
                          where_from(r["scale"], r["measured"], False)))
    return plots, notes


def draw_plots(records: list[dict]) -> Drawn:
    """Every plot the records' claims declare and hold the values for, as PNG bytes, a map per conditions map, and
    the registry's activations; a note for each plot that could not be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        return Drawn([], [MISSING_MATPLOTLIB])
    plots, notes = _conditions_plots(records)
    for claim, kind in declared(records):
        datasets = _datasets(claim, kind, records)
        for i, data in enumerate(datasets):
            try:
                png = _render(kind, data)
            except (ValueError, TypeError, IndexError, KeyError) as error:  # malformed values: say so, draw the rest
                notes.append(f"{kind.name} ({data.scale}, {', '.join(data.checks)}) not drawn: {error}")
                continue
            index = sum(d.scale == data.scale for d in datasets[:i])
            plots.append(Plot(kind.name, claim, data.scale, tuple(data.checks), kind.title,
                              _filename(claim, kind, data, index), png,
                              where_from(data.scale, data.values, bool(data.document))))
    plots.append(Plot(REGISTRY_PLOT.name, None, None, (), REGISTRY_PLOT.title, f"report-{REGISTRY_PLOT.name}.png",
                      _registry_plot()))
    return Drawn(plots, notes)
