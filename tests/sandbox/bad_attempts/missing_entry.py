"""Bad attempt: the function has the wrong name."""


def rmsnorm(x, weight, eps=1e-6):
    return x
