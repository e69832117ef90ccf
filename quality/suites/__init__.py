"""Great Expectations suites as a judge of batches: parse a GX Core 1.x suite (:mod:`.model`,
no GX import), run it on an Arrow batch (:mod:`.runner`, GX imported on first use;
:mod:`.verdicts` turns GX's results into check results), check it against a dataset's declared
schema (:mod:`.validation`), and profile a starter suite from a table (:mod:`.profile`).

Only the pure parts are imported here; import :mod:`.runner` where a suite is run.
"""

from thermocline.quality.suites.model import Expectation, Suite, SuiteError, load_suite

__all__ = ["Expectation", "Suite", "SuiteError", "load_suite"]
