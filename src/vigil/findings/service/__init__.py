"""The findings service: the lifecycle over the fleet store, queries, suppression filters, reports."""

from vigil.findings.service.filters import FiltersService
from vigil.findings.service.lifecycle import FindingsService
from vigil.findings.service.listing import FindingsQueries
from vigil.findings.service.reports import ReportsService
from vigil.findings.service.tokens import PageTokens

__all__ = ["FiltersService", "FindingsQueries", "FindingsService", "PageTokens", "ReportsService"]
