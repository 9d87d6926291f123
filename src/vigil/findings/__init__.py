"""Findings: matches scored at evaluation time, in Inspector's `Finding` shape (DESIGN §4)."""

from vigil.findings.evaluate import DEFAULT_ACCOUNT, Evaluation, FindingsReader, evaluate
from vigil.findings.model import Finding

__all__ = ["DEFAULT_ACCOUNT", "Evaluation", "Finding", "FindingsReader", "evaluate"]
