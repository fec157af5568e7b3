"""What a judge carries from one evaluation to the next within a step (saved in the record).

The sequential judge's comparison with a live baseline is a product of per-block e-values: it
keeps the counts at the end of the last block and the running log e-values. A state belongs to
one step (`since`); a step that starts again (the next weight, a resume) starts from nothing.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class BlockCounts(BaseModel):
    """Requests and failed requests of both sides since the step began, at a block's end."""

    candidate_requests: int = 0
    candidate_errors: int = 0
    baseline_requests: int = 0
    baseline_errors: int = 0


class JudgeState(BaseModel):
    since: datetime
    """The start of the step this evidence belongs to."""
    scrape_at: float | None = None
    """The newest scrape (Unix seconds) judged: the next evaluation waits for a newer one."""
    closed: BlockCounts = Field(default_factory=BlockCounts)
    blocks: int = 0
    worse: list[float] = Field(default_factory=list)
    """log e-values against "the candidate fails no more often than the baseline + margin"."""
    not_worse: list[float] = Field(default_factory=list)
    """log e-values against "the candidate fails at least max_error_rate_increase more often"."""
    not_worse_reached: bool = False
    """The not-worse evidence reached its bar once in this step (a crossing stays valid)."""
