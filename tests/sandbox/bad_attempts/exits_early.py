"""Bad attempt: ends the process with status 0 as soon as it is called."""

import os


def rms_norm(x, weight, eps=1e-6):
    os._exit(0)
