"""Expert testing: test cases, matchers (incl. sql_exec), the runner, vs-base metrics, reports.

The entry points: `run_suite` (one adapter, optionally against the base model),
`checkpoints.run_checkpoints` (every checkpoint-N), `recording.record_suite` (manifest update),
`report.write_report` (HTML + Markdown). Generation goes through `expertkit.runtime`.
"""

from expertkit.evaluation.cases import CATEGORIES, TestCase, load_cases, parse_categories
from expertkit.evaluation.runner import CaseResult, SuiteResult, default_adapter, run_suite

__all__ = ["CATEGORIES", "CaseResult", "SuiteResult", "TestCase", "default_adapter", "load_cases", "parse_categories", "run_suite"]
