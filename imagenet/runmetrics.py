"""What a finished universal-perturbation run reports: its ``metrics.json``.

The best perturbation measured on the held-out images, beside the counts the passes
kept in the run's state (:class:`imagenet.checkpoint.RunState`): fooling rates, clean
accuracy, dominant labels, skipped files and dropped duplicates, throughput.
"""

from __future__ import annotations

import dataclasses
import time

import jax
import numpy as np

from imagenet import data, steps
from imagenet.checkpoint import RunState


def run_metrics(r, state: RunState, class_names, started: float) -> dict:
    """Measure the best v on the held-out images and assemble metrics.json.

    Args:
      r: the run (:class:`imagenet.loop._Run`: the classifier, its replicated ``logits_fn``,
        the splits, the settings, the layout).
      state: the finished state.
      class_names: names for the dominant labels (None: the class index as text).
      started: ``time.perf_counter()`` when the invocation began.

    Returns:
      The metrics dict (docs/cli.md, *imagenet run*).
    """
    splits, config = r.splits, r.config
    held = (steps.evaluate_items(r.logits_fn, state.best_v, splits.val, config.batch, r.classifier.resolution,
                                 r.dp, r.preprocess, r.workers)
            if splits.val else None)
    skipped = np.asarray(state.skipped) + (held["skipped"] if held else 0)
    correct = state.correct + (int(held["correct"]) if held else 0)
    labelled = state.labelled + (int(held["labelled"]) if held else 0)
    best = np.asarray(state.best_v, np.float64)
    return {
        "model": r.classifier.name, "model_spec": r.model_spec, "resolution": r.classifier.resolution,
        "method": config.method,
        "norm": config.norm, "eps": config.eps, "seed": config.seed,
        "data": splits.source, "data_dir": splits.data_dir,
        "images": len(splits.train), "images_used": state.images_used,
        "val": len(splits.val), "val_used": int(held["valid"]) if held else 0,
        "fooling_rate": state.best_rate,
        "fooling_rate_heldout": float(held["fooled"]) / int(held["valid"]) if held and held["valid"] else None,
        "fooling_rate_history": state.history,
        "passes": state.pass_index, "target": config.target,
        "clean_accuracy": correct / labelled if labelled else None, "labelled_images": labelled,
        "dominant_labels": steps.dominant_labels(state.best_hist, class_names),
        "dominant_labels_heldout": steps.dominant_labels(held["hist"], class_names) if held else [],
        "perturbation_norm": {"l2": float(np.sqrt(np.sum(best**2))), "linf": float(np.max(np.abs(best)))},
        "skipped": data.skipped_counts(skipped),
        "duplicates_dropped": splits.duplicates,
        "devices": r.dp.n_devices, "processes": jax.process_count(),
        "attack_images_per_second": state.attack_images / state.attack_seconds if state.attack_seconds else None,
        "seconds_this_invocation": time.perf_counter() - started,
        "config": dataclasses.asdict(config),
    }
