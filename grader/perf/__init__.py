"""Performance: timing on GPU and CPU, the bench worker, scores and tiers, the machine doctor,
ncu profiles and the SVG chart."""
