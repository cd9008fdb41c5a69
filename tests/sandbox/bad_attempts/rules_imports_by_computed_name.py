"""Cheat at rms_norm: the reference imported by a module name built at run time, invisible to
the static check; the worker's import watch records it."""

import importlib

_REF = importlib.import_module("refer" + "ence.rms_norm")


def rms_norm(x, weight, eps=1e-6):
    return _REF.rms_norm(x, weight, eps)
