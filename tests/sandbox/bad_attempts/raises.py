"""Bad attempt: raises inside the entry function."""


def rms_norm(x, weight, eps=1e-6):
    return x.view(-1, 3).sum()  # RuntimeError for most shapes
