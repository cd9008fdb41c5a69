"""Correct but slow: rms_norm one row at a time in a Python loop, and 50 ms of extra work per
call, like a first try that has not been made fast yet. Budgets must let it pass."""

import time

import torch


def rms_norm(x, weight, eps=1e-6):
    time.sleep(0.05)  # a slow call, the same every time: the test's budgets are sized from it
    H = x.shape[-1]
    rows = x.reshape(-1, H)  # (N, H)
    out = torch.empty(rows.shape, dtype=x.dtype, device=x.device)  # (N, H)
    for i in range(rows.shape[0]):
        xf = rows[i].float()  # (H,)
        inv_rms = torch.rsqrt(xf.pow(2).mean() + eps)
        out[i] = weight * (xf * inv_rms).to(x.dtype)
    return out.reshape(x.shape)
