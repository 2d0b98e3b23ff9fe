"""Reports people look at: one self-contained HTML page from rectune's JSON results.

``rectune report RESULT.json [...] --out report.html`` (`write_report`) draws metric tables with
confidence intervals, learning curves, per-user deltas, prequential accuracy over time, tuning
histories, the L2-SP sweep and the size/accuracy trade-off of compression.
"""

from __future__ import annotations

from rectune.reports.page import KINDS, build_report, kind_of, load_result, write_report

__all__ = ["KINDS", "build_report", "kind_of", "load_result", "write_report"]
