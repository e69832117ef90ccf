"""Checking a suite before any batch arrives (``thermocline config check``): every expectation
type is one GX knows, GX accepts its kwargs, and every column it names is in the dataset's
declared schema. GX's registry is needed for the first two, so GX is imported here, lazily.

>>> suite_problems(load_suite("suites/rides.json"), declared_schema)  # doctest: +SKIP
["suite suites/rides.json: gx_column_values_to_be_between_fair names column 'fair', ..."]
"""

from __future__ import annotations

import pyarrow as pa

from thermocline.quality.suites.model import Suite

__all__ = ["suite_problems"]


def suite_problems(suite: Suite, schema: pa.Schema | None, *, dataset: str = "") -> list[str]:
    """One line per problem of ``suite`` (empty: fine). ``schema`` is the dataset's declared
    schema; None (an inferred schema) skips the column check."""
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )
    from great_expectations.expectations.registry import get_expectation_impl

    where = f"datasets.{dataset}.schema" if dataset else "the declared schema"
    problems: list[str] = []
    for expectation in suite.expectations:
        head = f"suite {suite.source}: {expectation.name} ({expectation.type})"
        try:
            get_expectation_impl(expectation.type)
        except Exception:
            problems.append(
                f"suite {suite.source}: {expectation.name}: unknown expectation type "
                f"{expectation.type!r}; use one of GX's expect_* types "
                "(e.g. expect_column_values_to_not_be_null)"
            )
            continue
        try:
            ExpectationConfiguration(**expectation.gx_config()).to_domain_obj()
        except Exception as error:  # GX raises pydantic and its own errors for bad kwargs
            text = " ".join(str(error).split())
            problems.append(f"{head}: GX refuses its kwargs ({text[:160]}); fix its kwargs")
            continue
        if schema is not None:
            for column in expectation.columns:
                if column not in schema.names:
                    problems.append(
                        f"{head} names column {column!r}, which {where} does not declare; "
                        f"fix the column name (declared: {', '.join(schema.names)})"
                    )
    return problems
