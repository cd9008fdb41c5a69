"""Root conftest: every test session uses Kernel Dojo's pytest plugin (--impl, fixtures)."""

pytest_plugins = ("grader.harness.plugin",)
