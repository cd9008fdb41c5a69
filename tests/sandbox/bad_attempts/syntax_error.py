"""Bad attempt: does not parse."""

def rms_norm(x, weight, eps=1e-6)
    return x
