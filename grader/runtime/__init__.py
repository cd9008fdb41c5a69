"""The runtime leaf: what attempts, solutions, references and the engine may import from the
grader (the CUDA launcher, rank pools, device facts). It imports nothing else of the grader."""
