"""The shared evaluator: per-class accuracy, classifier FID, intra-class FID and Inception
FID of any registered model, written as JSON, Markdown and self-contained HTML reports.
Nothing here knows about a particular model."""
