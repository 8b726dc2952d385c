"""Pictures of one architecture: cells as layered graphs, per-layer spaces as a table.

A cell (DARTS, NAS-Bench-201) is drawn as a layered graph: each node sits
in the column of its longest path from an input, so inputs are on the left
and the output on the right; within a column, nodes are spread evenly.
Edges that skip columns are bent away from the nodes they pass, and each
edge's op label is slid along its edge until it overlaps no other label
and no node (measured with the renderer, not guessed).

A space whose decisions are per-layer settings (``L01:kernel``,
``L01:expansion``... in the TuNAS spaces) is a chain of 20-60 layers:
drawn as a graph it is an unreadable line, so it becomes a table with one
row per layer and one column per setting.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

Edge = tuple[int, int, str]
COLUMN_GAP = 1.4  # the narrowest gap between columns: room for an op label along each edge
ROW_GAP = 0.6  # between nodes of one column, when a column has three or more
UNLABELLED = ("concat",)  # edges that only gather nodes into the output: drawn dashed, without a label


def layer_depths(edges: Sequence[Edge]) -> dict[int, int]:
    """Each node's longest-path distance from a source (a node nothing points to)."""
    nodes = sorted({e[0] for e in edges} | {e[1] for e in edges})
    incoming: dict[int, list[int]] = {n: [] for n in nodes}
    for src, dst, _ in edges:
        incoming[dst].append(src)
    depth: dict[int, int] = {}

    def visit(node: int, seen: frozenset) -> int:
        if node in depth:
            return depth[node]
        if node in seen:  # a cycle is not a cell; keep drawing rather than recurse forever
            return 0
        d = 1 + max((visit(s, seen | {node}) for s in incoming[node]), default=-1)
        depth[node] = d
        return d

    for node in nodes:
        visit(node, frozenset())
    return depth


def layered_positions(edges: Sequence[Edge]) -> dict[int, tuple[float, float]]:
    """Node -> (x, y): x the node's depth, y spread over [0, 1] within its column.

    Columns after the first are ordered by the mean height of each node's
    inputs (the barycentre rule of layered drawing), which removes most crossings.
    """
    depth = layer_depths(edges)
    columns: dict[int, list[int]] = {}
    for node in sorted(depth):
        columns.setdefault(depth[node], []).append(node)
    tallest = max(len(c) for c in columns.values())
    height = max(1.0, ROW_GAP * (tallest - 1))
    # a gap gets wider with the number of labelled edges leaving its column, so their labels have room
    leaving = {d: sum(1 for s, _, op in edges if depth[s] == d and op not in UNLABELLED) for d in columns}
    x, xs = 0.0, {}
    for d in sorted(columns):
        xs[d] = x
        x += max(COLUMN_GAP, 0.3 * leaving[d])
    pos: dict[int, tuple[float, float]] = {}
    for d in sorted(columns):
        members = columns[d]
        if d > 0:
            def barycentre(node: int) -> float:
                ys = [pos[s][1] for s, t, _ in edges if t == node and s in pos]
                return -sum(ys) / len(ys) if ys else 0.0
            members = sorted(members, key=lambda n: (barycentre(n), n))
        for i, node in enumerate(members):
            # spread each column over the same height, centred
            y = 0.5 if len(members) == 1 else (i / (len(members) - 1) - 0.5) * (len(members) - 1) / max(1, tallest - 1) + 0.5
            if len(members) == 1 and 0 < d < max(columns) and tallest > 1:
                # a chain of single nodes zig-zags, so an edge skipping one passes beside it, not through it
                y = 0.5 + (0.17 if d % 2 else -0.17)
            pos[node] = (xs[d], height * (1.0 - y))
    return pos


def node_names(edges: Sequence[Edge]) -> dict[int, str]:
    """What each node is called in the papers' figures.

    A DARTS cell (its intermediate nodes are gathered by ``concat`` edges)
    has inputs ``c_{k-2}``, ``c_{k-1}`` and output ``c_{k}``; otherwise
    (NAS-Bench-201) node 0 is the input, the last node the output, and the
    rest keep their numbers.
    """
    nodes = sorted({e[0] for e in edges} | {e[1] for e in edges})
    names = {n: str(n) for n in nodes}
    if any(op in UNLABELLED for _, _, op in edges):
        names.update({0: "c_{k-2}", 1: "c_{k-1}", nodes[-1]: "c_{k}"})
        for n in nodes[2:-1]:
            names[n] = str(n - 2)
    else:
        names.update({nodes[0]: "in", nodes[-1]: "out"})
    return names


def _bezier(p0, c, p1, t: float) -> tuple[float, float]:
    return ((1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * c[0] + t ** 2 * p1[0],
            (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * c[1] + t ** 2 * p1[1])


def _control_point(p0, p1, bend: float) -> tuple[float, float]:
    mx, my = (p0[0] + p1[0]) / 2, (p0[1] + p1[1]) / 2
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    return mx - bend * dy, my + bend * dx


def _clearance(points, pos, ends, radius: float) -> bool:
    """Whether a sampled curve stays clear of every node but its two ends."""
    return all(math.dist(p, xy) > radius * 1.6 for node, xy in pos.items() if node not in ends for p in points)


def _edge_bends(edges: Sequence[Edge], pos: Mapping[int, tuple[float, float]], radius: float) -> list[float]:
    """0 (straight) where the straight edge clears every other node; else the smallest bend that does.

    Bends are tried on the side away from the middle first (upper edges bow
    upwards), and an edge bent like one already drawn into the same node
    takes the next size, so parallel edges do not lie on top of each other.
    """
    bends, taken = [], set()
    ys = [y for _, y in pos.values()]
    centre = (min(ys) + max(ys)) / 2
    for src, dst, _ in edges:
        p0, p1 = pos[src], pos[dst]
        length = math.dist(p0, p1)
        mid_y = (p0[1] + p1[1]) / 2
        first = 1.0 if mid_y >= centre else -1.0
        chosen = 0.0
        for peak in (0.0, 0.2, 0.3, 0.42, 0.55, 0.7):
            options = (0.0,) if peak == 0 else (first * peak, -first * peak)
            for signed in options:
                bend = 2 * signed / length
                c = _control_point(p0, p1, bend)
                points = [_bezier(p0, c, p1, i / 24) for i in range(1, 24)]
                if (bend == 0 or (dst, round(bend, 3)) not in taken) and _clearance(points, pos, (src, dst), radius):
                    chosen = bend
                    break
            else:
                continue
            break
        taken.add((dst, round(chosen, 3)))
        bends.append(chosen)
    return bends


def label_outline(text, renderer):
    """The display-space outline of a (possibly turned) centred label, as a closed matplotlib Path.

    An axis-aligned bounding box of a turned label is far larger than the
    label, so overlaps are judged on this outline instead.
    """
    from matplotlib.path import Path as MplPath

    angle = text.get_rotation()
    text.set_rotation(0)
    box = text.get_window_extent(renderer)
    text.set_rotation(angle)
    cx, cy = text.get_transform().transform(text.get_position())
    w, h = box.width / 2 + 2, box.height / 2 + 1.5
    cos, sin = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    corners = [(cx + dx * cos - dy * sin, cy + dx * sin + dy * cos) for dx, dy in ((-w, -h), (w, -h), (w, h), (-w, h))]
    return MplPath(corners + [corners[0]], closed=True)


LABEL_POSITIONS = (0.5, 0.44, 0.56, 0.38, 0.62, 0.32, 0.68, 0.26, 0.74, 0.2, 0.8)


def draw_cell(ax, edges: Sequence[Edge], title: str = "", labels: bool = True):
    """A layered drawing of one cell on ``ax``; returns the edge-label text artists (placed without overlap).

    With ``labels=False`` it returns the labels' edges instead, for :func:`place_labels` to
    place once the figure's layout is final (placing measures on screen, and a later layout change
    would move what was measured).
    """
    from matplotlib.patches import Circle, FancyArrowPatch
    from matplotlib.path import Path as MplPath

    pos = layered_positions(edges)
    names = node_names(edges)
    width = max(x for x, _ in pos.values())
    radius = 0.13
    ax.set_xlim(-0.35, width + 0.35)
    top = max(y for _, y in pos.values())
    ax.set_ylim(-0.55, max(1.0, top) + 0.55)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    node_colour = {"in": "#a6cee3", "out": "#b2df8a"}
    nodes = sorted(pos)
    for node, (x, y) in pos.items():
        kind = "out" if node == nodes[-1] else "in" if names[node] in ("in", "c_{k-2}", "c_{k-1}") else "mid"
        ax.add_patch(Circle((x, y), radius, fc=node_colour.get(kind, "#fdbf6f"), ec="0.3", zorder=3))
        label = f"${names[node]}$" if names[node].startswith("c_") else names[node]
        ax.text(x, y, label, ha="center", va="center", fontsize=8, zorder=4, fontweight="bold")
    curves = []
    for (src, dst, op), bend in zip(edges, _edge_bends(edges, pos, radius)):
        p0, p1 = pos[src], pos[dst]
        c = _control_point(p0, p1, bend)
        ts = [i / 60 for i in range(61)]
        points = [_bezier(p0, c, p1, t) for t in ts]
        keep = [p for p in points if math.dist(p, p0) > radius and math.dist(p, p1) > radius * 1.05]
        dashed = op in UNLABELLED
        arrow = FancyArrowPatch(path=MplPath(keep), arrowstyle="-|>", mutation_scale=9, lw=0.9,
                                color="0.55" if dashed else "tab:blue", linestyle="--" if dashed else "-", zorder=2)
        ax.add_patch(arrow)
        if not dashed:
            curves.append((op, p0, c, p1))
    return place_labels(ax, curves) if labels else curves


def place_labels(ax, curves) -> list:
    """Put each op label on its edge, turned along it, where it overlaps no other label and no node.

    Candidates slide along the edge; a candidate is scored by its overlap
    with nodes and labels already placed (which must be zero when any
    candidate allows it) and then by how many points of other edges it
    covers (so a label does not sit on a crossing, where it could belong to
    either edge).  The renderer measures every box.
    """
    from matplotlib.path import Path as MplPath

    renderer = ax.figure.canvas.get_renderer()
    to_display = ax.transData.transform
    nodes = []
    for patch in ax.patches:
        if patch.__class__.__name__ == "Circle":
            extent = patch.get_window_extent(renderer)
            nodes.append(MplPath.circle((extent.x0 + extent.width / 2, extent.y0 + extent.height / 2), extent.width / 2))
    taken = []
    tracks = [[to_display(_bezier(p0, c, p1, i / 40)) for i in range(41)] for _, p0, c, p1 in curves]
    placed: dict[int, object] = {}
    # long edges first: they have the most room to move along
    for i in sorted(range(len(curves)), key=lambda i: -math.dist(curves[i][1], curves[i][3])):
        op, p0, c, p1 = curves[i]
        text = ax.text(0, 0, op, fontsize=7, ha="center", va="center", zorder=5, rotation_mode="anchor",
                       bbox=dict(boxstyle="round,pad=0.12", fc="white", ec="none", alpha=0.9))
        best = None
        to_data = ax.transData.inverted().transform
        for shift in (0.0, 1.0, -1.0):  # on the edge; beside it only when no place on it is free
            for t in LABEL_POSITIONS:
                a, b = to_display(_bezier(p0, c, p1, t - 0.02)), to_display(_bezier(p0, c, p1, t + 0.02))
                angle = math.degrees(math.atan2(b[1] - a[1], b[0] - a[0]))
                centre = to_display(_bezier(p0, c, p1, t))
                normal = (-math.sin(math.radians(angle)), math.cos(math.radians(angle)))
                offset = shift * 0.6 * text.get_fontsize() * ax.figure.dpi / 72 * 1.6
                text.set_position(tuple(to_data((centre[0] + normal[0] * offset, centre[1] + normal[1] * offset))))
                text.set_rotation(angle)
                outline = label_outline(text, renderer)
                hard = 10 * sum(outline.intersects_path(n, filled=True) for n in nodes) + \
                    sum(outline.intersects_path(other, filled=True) for other in taken)
                soft = sum(int(outline.contains_points(track).sum()) for k, track in enumerate(tracks) if k != i)
                score = (hard, shift != 0, soft, abs(t - 0.5))
                if best is None or score < best[0]:
                    best = (score, text.get_position(), angle, outline)
            if best[0][0] == 0:
                break
        _, position, angle, outline = best
        text.set_position(position)
        text.set_rotation(angle)
        taken.append(outline)
        placed[i] = text
    return [placed[i] for i in range(len(curves))]


def cells_figure(graphs: Mapping[str, Sequence[Edge]], title: str = ""):
    """One panel per cell, side by side; ``title`` (the genotype string) is wrapped to fit, never clipped."""
    import matplotlib.pyplot as plt

    extents = [layered_positions(e).values() for e in graphs.values()]
    widths = [max(x for x, _ in p) + 0.7 for p in extents]
    tall = max(max(1.0, max(y for _, y in p)) for p in extents) + 1.1
    fig, axes = plt.subplots(1, len(graphs), figsize=(max(4.0, 1.35 * sum(widths) + 0.6), 1.2 + 1.1 * tall), squeeze=False,
                             gridspec_kw={"width_ratios": widths})
    pending = [draw_cell(ax, edges, name if name.endswith("cell") else f"{name} cell", labels=False)
               for ax, (name, edges) in zip(axes[0], graphs.items())]
    if title:
        fig.suptitle(wrap(title, int(fig.get_figwidth() * 13)), fontsize=7, family="monospace")
    fig.tight_layout()
    for ax, curves in zip(axes[0], pending):
        ax.apply_aspect()
        place_labels(ax, curves)
    return fig


def wrap(text: str, width: int) -> str:
    """Break a long genotype string at its separators (``+``, ``,``, ``|``...) into lines of at most ``width``."""
    lines, line = [], ""
    for piece in _pieces(text):
        if line and len(line) + len(piece) > width:
            lines.append(line)
            line = ""
        line += piece
    if line:
        lines.append(line)
    return "\n".join(lines)


def _pieces(text: str) -> Iterable[str]:
    piece = ""
    for ch in text:
        piece += ch
        if ch in "+,| )":
            yield piece
            piece = ""
    if piece:
        yield piece


def layer_rows(choices: Mapping[str, str]) -> tuple[list[str], list[str], list[list[str]]] | None:
    """``{"L01:kernel": "k3", ...}`` -> (row names, column names, cells) when every decision is ``GROUP:SETTING``.

    None when the decisions are not per-layer settings (or there are fewer than two groups).
    """
    if not choices or not all(":" in name for name in choices):
        return None
    rows: dict[str, dict[str, str]] = {}
    columns: list[str] = []
    for name, label in choices.items():
        group, setting = name.split(":", 1)
        rows.setdefault(group, {})[setting] = label
        if setting not in columns:
            columns.append(setting)
    if len(rows) < 2 or len(columns) > 8:
        return None
    return list(rows), columns, [[rows[g].get(c, "") for c in columns] for g in rows]


def table_figure(choices: Mapping[str, str], title: str = "", max_rows: int = 32):
    """A per-layer table (one row per layer, one column per setting); skipped layers greyed out.

    More than ``max_rows`` layers are split into side-by-side tables so the figure stays readable.
    """
    import matplotlib.pyplot as plt

    laid = layer_rows(choices)
    if laid is None:
        rows, columns, cells = list(choices), ["choice"], [[v] for v in choices.values()]
    else:
        rows, columns, cells = laid
    parts = max(1, math.ceil(len(rows) / max_rows))
    per = math.ceil(len(rows) / parts)
    fig, axes = plt.subplots(1, parts, figsize=(max(4.5, (1.0 + 0.85 * len(columns)) * parts), 0.6 + 0.24 * (per + 2)),
                             squeeze=False)
    for k, ax in enumerate(axes[0]):
        ax.axis("off")
        chunk = slice(k * per, (k + 1) * per)
        table = ax.table(cellText=cells[chunk], rowLabels=rows[chunk], colLabels=columns, loc="upper center",
                         cellLoc="center")
        table.auto_set_font_size(False)
        table.set_fontsize(8)
        table.scale(1.0, 1.15)
        for r, values in enumerate(cells[chunk], start=1):
            skipped = any(v == "skip" for v in values)
            for c in range(len(columns)):
                if skipped:
                    table[r, c].set_facecolor("0.88")
                    table[r, c].get_text().set_color("0.45")
        for c in range(len(columns)):
            table[0, c].set_facecolor("#dde6f0")
            table[0, c].get_text().set_fontweight("bold")
    if title:
        fig.suptitle(wrap(title, int(fig.get_figwidth() * 13)), fontsize=8)
    fig.tight_layout()
    return fig


def architecture_figure(space, genotype, title: str = ""):
    """The picture that explains ``genotype`` best: layered cells, a per-layer table, or a decision table."""
    if hasattr(space, "cell_graphs"):
        return cells_figure(space.cell_graphs(genotype), title)
    choices = space.choices_from_genotype(genotype)
    labels = {name: space.decision(name).choices[index] for name, index in choices.items()}
    # the table spells the genotype out: a title repeating it would be a paragraph
    heading = title.split(": ", 1)[0] if title.startswith("epoch ") else ""
    return table_figure(labels, f"{space.name}: the choices of each layer{' at ' + heading if heading else ''}"
                                f"{' (grey: skipped)' if any(v == 'skip' for v in labels.values()) else ''}")
