"""The in-process test harness that runs inside the sandbox: the pytest plugin and fixtures,
checked calls, comparisons with mismatch reports, hypothesis strategies, per-problem hooks and
static PTX rules."""
