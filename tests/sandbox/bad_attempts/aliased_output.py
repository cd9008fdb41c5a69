"""Bad attempt: returns a view of its input (the right answer only where it equals x)."""


def rms_norm(x, weight, eps=1e-6):
    return x.view(x.shape)
