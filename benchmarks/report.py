"""The report's formats, shared by its sections: aligned tables and target lines."""


def columns(header, rows):
    """``header`` and ``rows`` (tuples of strings) as lines of aligned cells."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [" | ".join(cell.ljust(width) for cell, width in zip(row, widths))
            for row in [header, tuple("-" * width for width in widths), *rows]]


def verdict(subject, ratio, must, goal=None, share=False):
    """``subject: ratio (must ..., goal ...): state``, state one of goal, holds, MISSED;
    with ``share``, the figures are shares, written as percentages."""
    def shown(value, bound=True):
        return f"{value:.0%}" if share else f"{value}x" if bound else f"{value:.2f}x"

    bounds = f"must {shown(must)}" + ("" if goal is None else f", goal {shown(goal)}")
    state = ("goal" if goal is not None and ratio >= goal
             else "holds" if ratio >= must else "MISSED")
    return f"{subject}: {shown(ratio, bound=False)} ({bounds}): {state}"
