"""The grader's work on the engine: `dojo engine check` (the model on your kernels, one op at a
time, against the references) and `dojo engine bench` (throughput against HF generate, bs=1
decode against the HBM roofline). They check and measure the engine; they are not part of it."""
