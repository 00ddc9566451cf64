"""python -m expanse.training SPEC.json — one training process (accelerate starts one per GPU)."""

import sys

from expanse.training.launch import read_spec
from expanse.training.trainers import train

if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m expanse.training SPEC.json")
    train(read_spec(sys.argv[1]))
