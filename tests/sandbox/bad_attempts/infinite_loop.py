"""Bad attempt: never returns."""


def rms_norm(x, weight, eps=1e-6):
    while True:
        pass
