"""The problem model: problem.toml as frozen dataclasses, the registry of problems, the --impl
grammar and loader, generic null answers, and the scaffold for new problems."""
