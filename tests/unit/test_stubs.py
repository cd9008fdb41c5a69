"""The static stub rule (grader/problem/stubs.py): an attempt is "not attempted" without a test
run only when no call into it can return a result."""

from __future__ import annotations

import pytest

from grader.problem.stubs import stubbed_entries

STUB = '''
def f(x):
    """doc"""
    raise NotImplementedError("write f")
'''


@pytest.mark.parametrize(
    ("source", "entry", "stub"),
    [
        (STUB, ("f",), True),
        ("def f(x):\n    n = len(x)\n    raise NotImplementedError\n", ("f",), True),
        ("def f(x):\n    if x:\n        return 1\n    raise NotImplementedError\n", ("f",), False),
        ("def f(x):\n    return x\n", ("f",), False),
        ("def f(x):\n    raise ValueError('no')\n", ("f",), False),
        ("def f(x):\n    return x\n    raise NotImplementedError\n", ("f",), False),
        (STUB + "\ndef g(x):\n    return x\n", ("f", "g"), False),
        (STUB, ("f", "g"), False),  # an entry that is not defined: let the tests say so
        ("def f(x:\n", ("f",), False),  # a syntax error: let the tests report it
        (
            "class C:\n    def __init__(self):\n        self.n = 0\n"
            "    def a(self):\n        raise NotImplementedError\n"
            "    def b(self):\n        raise NotImplementedError('b')\n",
            ("C",),
            True,
        ),
        (
            "class C:\n    def a(self):\n        return 1\n"
            "    def b(self):\n        raise NotImplementedError\n",
            ("C",),
            False,
        ),
    ],
)
def test_a_stub_is_only_code_that_cannot_return(source, entry, stub):
    assert (stubbed_entries(source, entry) is not None) == stub, source
