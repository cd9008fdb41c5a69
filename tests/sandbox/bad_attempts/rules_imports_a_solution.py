"""Cheat at rms_norm: the shipped Triton solution, imported as a module."""

import solutions.rms_norm.triton as shipped


def rms_norm(x, weight, eps=1e-6):
    return shipped.rms_norm(x, weight, eps)
