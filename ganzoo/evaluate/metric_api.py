"""What an evaluation metric is, for the plugins that register one.

A :class:`Metric` computes one entry of ``report.json`` from :class:`MetricInputs`: the
generated set and the real images it is compared against (the test split, or the training
split with ``--real-split train``), both as images and as the judge's view of them.
Reports (JSON, Markdown, HTML) and the leaderboard show every registered metric through
its ``label``, ``headline`` and ``summary``; no other code changes for a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: the plugin host imports this module, and stays torch-free
    import torch

APPLIES = ("all", "conditional", "unconditional")
FEATURES = ("judge", "inception", "none")


@dataclass
class MetricInputs:
    """Everything a metric may read. Images are uint8 ``(N, C, H, W)``; features are the
    judge's penultimate layer; ``labels`` is None for an unconditional generator. Data of
    one class have no judge: the judge's features and predictions are then None, and only
    metrics whose ``features`` are ``inception`` or ``none`` run."""

    generated: torch.Tensor
    labels: torch.Tensor | None
    fake_features: torch.Tensor | None
    fake_predicted: torch.Tensor | None
    real_images: torch.Tensor  # what the evaluation compares against: the test split, or train (--real-split)
    real_labels: torch.Tensor
    real_features: torch.Tensor | None
    class_names: list[str]
    device: torch.device
    reference: Any  # ganzoo.evaluate.run.Reference: the judge, the training split, Inception
    options: dict[str, Any] = field(default_factory=dict)  # fid_n and the like, from the command line


def _value(result: dict[str, Any]) -> float | None:
    value = result.get("value")
    return float(value) if isinstance(value, (int, float)) else None


def _summary_of(headline: Callable[[dict[str, Any]], float | None]) -> Callable[[dict[str, Any]], str]:
    def summary(result: dict[str, Any]) -> str:
        value = headline(result)
        return "-" if value is None or value != value else f"{value:.2f}"

    return summary


@dataclass(frozen=True)
class Metric:
    """One evaluation metric.

    * ``name``: what ``--metrics`` takes (``classifier-fid``); ``key``: its entry in
      report.json (default: the name with ``_`` for ``-``).
    * ``compute(inputs) -> dict`` with at least ``value`` (or None when the metric does
      not apply to these inputs).
    * ``label``: the column and row title; ``better``: ``"lower"`` or ``"higher"``.
    * ``applies``: ``all``, ``conditional`` or ``unconditional`` generators.
    * ``features``: the feature space the metric reads, for its provenance in the report:
      ``judge`` (the judge's features or predictions), ``inception`` or ``none``.
    * ``needs_judge``: whether it needs a judge at all (default: when its features are the
      judge's); data of one class have none, and such metrics are left out for them.
    * ``headline(result)``: the one number a table sorts by (default ``result["value"]``);
      ``summary(result)``: the text of a table cell (default: the headline, 2 decimals).
    * ``min_images``: the fewest generated images the metric is defined on (a Fréchet
      distance needs 2, k nearest neighbours k + 1); fewer is refused before any work.
    """

    name: str
    compute: Callable[[MetricInputs], dict[str, Any] | None]
    label: str = ""
    description: str = ""
    better: str = "lower"
    applies: str = "all"
    features: str = "judge"
    key: str = ""
    needs_judge: bool | None = None
    headline: Callable[[dict[str, Any]], float | None] = _value
    summary: Callable[[dict[str, Any]], str] | None = None
    min_images: int = 1

    def __post_init__(self) -> None:
        if self.applies not in APPLIES:
            raise ValueError(f"metric {self.name!r}: applies must be one of {', '.join(APPLIES)}")
        if self.features not in FEATURES:
            raise ValueError(f"metric {self.name!r}: features must be one of {', '.join(FEATURES)}")
        if self.better not in ("lower", "higher"):
            raise ValueError(f"metric {self.name!r}: better must be 'lower' or 'higher'")
        if not self.key:
            object.__setattr__(self, "key", self.name.replace("-", "_"))
        if self.needs_judge is None:
            object.__setattr__(self, "needs_judge", self.features == "judge")
        if not self.label:
            object.__setattr__(self, "label", self.name)
        if self.summary is None:
            object.__setattr__(self, "summary", _summary_of(self.headline))

    def fits(self, conditional: bool) -> bool:
        """Whether the metric applies to a conditional (or unconditional) generator."""
        return self.applies == "all" or (self.applies == "conditional") == conditional
