"""Runs imagenet.run_universal on the tiny test net, as a separate process the tests can kill.

usage: python imagenet_run_driver.py DATA OUT [--resume] [--delay SECONDS]
--delay slows each image's decoding (simulated slow storage) so a kill lands mid-run.
"""

import argparse
import time

from imagenet import RunConfig, build_splits, default_preprocess, run_universal
from imagenet_tiny import tiny_classifier

CONFIG = RunConfig(norm="inf", eps=10.0, method="deepfool", batch=2, seed=3, passes=2, target=1.0)


def slow_preprocess(delay):
    def preprocess(image, resolution):
        time.sleep(delay)
        return default_preprocess(image, resolution)
    return preprocess


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("out")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--delay", type=float, default=0.0)
    args = parser.parse_args()
    splits = build_splits(args.data, 16, 4, CONFIG.seed)
    run_universal(tiny_classifier(), splits, CONFIG, args.out, resume=args.resume, checkpoint_every=2,
                      workers=1, progress=False, preprocess=slow_preprocess(args.delay))
