"""Pure KPI math: scoring curves, weighted totals, formulas over indicators, the bulk
recompute, pace. No I/O, no framework.

Scores are not money: they are IEEE doubles (``float``) throughout, and numpy arrays in the
bulk recompute; they are rounded once, to 4 decimals, where they leave the service (the
board, the stored score, ``zhanli.kpi.score_updated.v1``). 1.0 is 100 %.
"""
