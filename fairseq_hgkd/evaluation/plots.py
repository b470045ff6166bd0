"""Reliability diagram and confidence histogram of several systems in one figure each."""
from typing import Dict, List

from fairseq_hgkd.atomic_io import atomic_file


def _figure_to_png(figure, path: str) -> str:
    with atomic_file(path, "wb") as handle:
        figure.savefig(handle, format="png", dpi=120, bbox_inches="tight")
    return path


def reliability_diagram(bins_by_system: Dict[str, List[List[float]]], path: str, title: str = "") -> str:
    """Accuracy against mean confidence per equal-width bin; the diagonal is perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5.5, 5))
    axis.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=1, label="perfect calibration")
    for name, (count, conf, correct) in bins_by_system.items():
        points = [(c / n, k / n) for n, c, k in zip(count, conf, correct) if n > 0]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o", markersize=3, label=name)
    axis.set_xlabel("confidence (mean max probability in bin)")
    axis.set_ylabel("accuracy in bin")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_title(title or "Reliability diagram (token level, teacher-forced)")
    axis.legend(fontsize=7, loc="upper left")
    try:
        return _figure_to_png(figure, path)
    finally:
        plt.close(figure)


def confidence_histogram(bins_by_system: Dict[str, List[List[float]]], path: str, title: str = "") -> str:
    """Share of target tokens per confidence bin, one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for name, (count, _conf, _correct) in bins_by_system.items():
        n_bins, total = len(count), sum(count) or 1
        centers = [(b + 0.5) / n_bins for b in range(n_bins)]
        axis.plot(centers, [c / total for c in count], marker="o", markersize=3, label=name)
    axis.set_xlabel("confidence bin")
    axis.set_ylabel("share of target tokens")
    axis.set_title(title or "Confidence histogram")
    axis.legend(fontsize=7)
    try:
        return _figure_to_png(figure, path)
    finally:
        plt.close(figure)


def line_plot(series: Dict[str, List[float]], path: str, xlabel: str, ylabel: str, title: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        axis.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend(fontsize=7)
    try:
        return _figure_to_png(figure, path)
    finally:
        plt.close(figure)


__all__ = ["reliability_diagram", "confidence_histogram", "line_plot"]
