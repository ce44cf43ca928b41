"""The contract kit's machinery, one module per concept; the checks themselves are the pytest suite in
``contract_tests/``.

* ``targets``: what a run talks to (``Target``) and the paid-call ``Budget``;
* ``recorder``: exchanges written as a cassette, scrubbed;
* ``mismatch``: how a difference is said (``Mismatch``, ``expect``, ``compact``);
* ``drift``: ``schemas/`` and the fake's answers against the published references;
* ``reports``: Markdown/JSON reports and JUnit XML;
* ``cli``: ``bfl-mock contract`` (flags, pre-flight, the pytest run).

Everything is importable from ``mock_server.contract`` as before.
"""

from __future__ import annotations

from mock_server.contract.cli import (
    ORACLE_NAMES,
    PreflightError,
    add_contract_parser,
    check_output_file,
    cmd_contract,
    contract_tests_dir,
    endpoint_selection,
    preflight,
)
from mock_server.contract.drift import (
    _endpoints,
    answer_drift,
    compare_object_schemas,
    drift,
    endpoint_drift,
    fetch_live_openapi,
    generation_paths,
    reference_dir,
)
from mock_server.contract.mismatch import Mismatch, answer_of, compact, differing_fields, expect, shorten
from mock_server.contract.recorder import SCRUBBED, Recorder, scrub_json
from mock_server.contract.reports import render_junit, render_report
from mock_server.contract.targets import LIVE_URL, Budget, BudgetExhausted, Target

__all__ = [
    "LIVE_URL",
    "ORACLE_NAMES",
    "SCRUBBED",
    "Budget",
    "BudgetExhausted",
    "Mismatch",
    "PreflightError",
    "Recorder",
    "Target",
    "_endpoints",
    "add_contract_parser",
    "answer_drift",
    "answer_of",
    "check_output_file",
    "cmd_contract",
    "compact",
    "compare_object_schemas",
    "contract_tests_dir",
    "differing_fields",
    "drift",
    "endpoint_drift",
    "endpoint_selection",
    "expect",
    "fetch_live_openapi",
    "generation_paths",
    "preflight",
    "reference_dir",
    "render_junit",
    "render_report",
    "scrub_json",
    "shorten",
]
