"""Report cards: one section per user's activation, its registry facts and profile numbers beside those of the
activations profiled with it, and two plots (the functions and derivatives; variance and gradient through depth).
The rows come from the profile tests (harness.profile); the facts from the registry as this run completed it."""
from __future__ import annotations

from html import escape
from typing import Any

import numpy as np

from harness.outputs.plots import MISSING_MATPLOTLIB, Drawn, Plot, render_figure
from models.activations import ACTIVATIONS

FACTS = ("family", "output_range", "zero_centered", "init", "derivative_bound", "saturation", "hard_zero",
         "monotone", "kinks")
PROFILES_JSON = "profiles.json"


def card_names(rows: list[dict]) -> list[str]:
    """The user's activations among the profiled, in the order they were profiled."""
    return list(dict.fromkeys(r["activation"] for r in rows if r.get("user")))


def _columns(rows: list[dict], name: str) -> list[str]:
    return [name, *dict.fromkeys(r["activation"] for r in rows if not r.get("user"))]


def _fact(name: str, fact: str) -> str:
    act = ACTIVATIONS.get(name)
    if act is None:
        return "?"
    value = getattr(act, fact)
    measured = fact in act.measured
    if fact == "output_range" and value is not None:
        value = f"[{value[0]:.4g}, {value[1]:.4g}]"
    elif fact == "derivative_bound" and value is not None:
        value = f"{value:.4g}"
    elif fact == "kinks":
        value = "unknown" if value is None else ", ".join(f"{k:g}" for k in value) or "none"
    return f"{'unknown' if value is None else value}{' (measured)' if measured else ''}"


def _cell(rows: list[dict], name: str, quantity: str) -> str:
    row = next((r for r in rows if r["activation"] == name and r["quantity"] == quantity), None)
    if row is None:
        return "-"
    lo, hi = row["interval"]
    if row["mean"] is None:
        return f"not finite on any of {row['nonfinite']} nets"
    if lo is None:
        interval = f" ({row['nonfinite']} nets not finite)" if row["nonfinite"] else " (every net)"
    else:
        lo, hi = (max(lo, 0.0), min(hi, 1.0)) if row["unit"] == "share" else (lo, hi)
        interval = f" [{lo:.3g}, {hi:.3g}]"
    return f"{row['mean']:.3g}{interval}{(' ' + row['unit']) if row['unit'] not in ('', 'share') else ''}"


def _quantities(rows: list[dict]) -> list[tuple[str, str]]:
    """(quantity, setting) in the order measured."""
    return list({r["quantity"]: r["setting"] for r in rows}.items())


def tables(rows: list[dict], name: str) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """The header, the facts' rows and the measurements' rows of one card."""
    columns = _columns(rows, name)
    header = ["", *[ACTIVATIONS[c].display if c in ACTIVATIONS else c for c in columns]]
    facts = [[fact.replace("_", " "), *[_fact(c, fact) for c in columns]] for fact in FACTS]
    numbers = [[quantity, *[_cell(rows, c, quantity) for c in columns]] for quantity, _ in _quantities(rows)]
    return header, facts, numbers


def with_card_plots(drawn: Drawn, rows: list[dict]) -> Drawn:
    """`drawn` with every card's plots added (none without matplotlib); a plot that cannot be drawn becomes a note."""
    if MISSING_MATPLOTLIB in drawn.notes:
        return drawn
    plots, notes = list(drawn.plots), list(drawn.notes)
    for name in card_names(rows):
        try:
            plots += card_plots(rows, name)
        except (ValueError, TypeError, IndexError, KeyError) as error:
            notes.append(f"report card {name}: plots not drawn: {error}")
    return Drawn(plots, notes)


def card_plots(rows: list[dict], name: str) -> list[Plot]:
    columns = [c for c in _columns(rows, name) if c in ACTIVATIONS]
    plots = [Plot("card-curves", f"card:{name}", None, (), f"{ACTIVATIONS[name].display} beside "
                  f"{', '.join(ACTIVATIONS[c].display for c in columns[1:])}: f(x) and f'(x)",
                  f"card-{name}-curves.png", render_figure(lambda fig: _curves(fig, columns), (11.0, 4.2)))]
    layered = [r for r in rows if "per_layer" in r and r["activation"] in columns]
    if layered:
        plots.append(Plot("card-depth", f"card:{name}", None, (), "Through depth at initialisation, mean over nets",
                          f"card-{name}-depth.png", render_figure(lambda fig: _depth(fig, layered), (11.0, 4.2)),
                          layered[0]["setting"]))
    return plots


def _curves(fig: Any, names: list[str]) -> None:
    import torch
    x = torch.linspace(-4, 4, 401, dtype=torch.float64)
    ax_f, ax_d = fig.subplots(1, 2)
    for name in names:
        act = ACTIVATIONS[name]
        style = {"color": act.colour, "linewidth": 2.5 if act.user_given else 1.2, "label": act.display}
        ax_f.plot(x.numpy(), act(x).numpy(), **style)
        ax_d.plot(x.numpy(), act.derivative(x).numpy(), **style)
    ax_f.set(title="f(x)", xlabel="x")
    ax_d.set(title="f'(x), by autograd where the entry states none", xlabel="x")
    for ax in (ax_f, ax_d):
        ax.grid(alpha=0.3)
        ax.axhline(0, color="grey", linewidth=0.5)
    ax_f.legend(fontsize="small")


def _depth(fig: Any, rows: list[dict]) -> None:
    quantities = list(dict.fromkeys(r["quantity"] for r in rows))
    axes = dict(zip(quantities, fig.subplots(1, len(quantities), squeeze=False)[0]))
    for row in rows:
        act = ACTIVATIONS[row["activation"]]
        values = np.asarray(row["per_layer"], dtype=float)
        axes[row["quantity"]].plot(np.arange(1, len(values) + 1), values, marker="o", color=act.colour,
                                   linewidth=2.5 if act.user_given else 1.2, label=act.display)
    for quantity, ax in axes.items():
        ax.set(title=quantity.split(",")[0], xlabel="layer", yscale="log")
        ax.grid(alpha=0.3, which="both")
    next(iter(axes.values())).legend(fontsize="small")


def markdown(rows: list[dict], name: str, plots: list[Plot], plot_folder: str) -> list[str]:
    header, facts, numbers = tables(rows, name)
    origin = ACTIVATIONS[name].origin if name in ACTIVATIONS else "?"

    def table(body: list[list[str]]) -> list[str]:
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
                *["| " + " | ".join(row) + " |" for row in body], ""]
    settings = [f"- {quantity}: {setting}" for quantity, setting in _quantities(rows)]
    return [f"## Report card: {name}", "", f"From {origin}. Facts from the registry (measured where the entry did "
            "not state them); numbers are means over nets with their 98% t-interval, measurements and not "
            "verdicts.", "", *table(facts), *table(numbers), "Settings:", *settings, "",
            *[line for p in plots for line in (f"![{p.title}]({plot_folder}/{p.filename})", f"*{p.title}*", "")]]


def html(rows: list[dict], name: str, plots: list[Plot], figure: Any) -> list[str]:
    header, facts, numbers = tables(rows, name)
    origin = ACTIVATIONS[name].origin if name in ACTIVATIONS else "?"

    def table(body: list[list[str]]) -> list[str]:
        return ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in header) + "</tr>",
                *["<tr>" + "".join(f'<td class="n">{escape(c)}</td>' for c in row) + "</tr>" for row in body],
                "</table>"]
    settings = "".join(f"<li>{escape(quantity)}: {escape(setting)}</li>" for quantity, setting in _quantities(rows))
    return [f'<section class="card" id="card-{escape(name)}"><h2>Report card: {escape(name)}</h2>',
            f"<p>From <code>{escape(origin)}</code>. Facts from the registry (measured where the entry did not state "
            "them); numbers are means over nets with their 98% t-interval, measurements and not verdicts.</p>",
            *table(facts), *table(numbers), f"<ul class=\"setting\">{settings}</ul>", *figure(plots), "</section>"]
