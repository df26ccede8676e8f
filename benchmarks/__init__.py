"""Measurements of the product: quality on the toy world, speed, real-size time and memory on the CPU and GPU."""

import os

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # optional-dependency notices say nothing about what is measured
