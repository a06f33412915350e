"""The measures: the four fractions (exact in 2D and estimated by attacks), the verdict,
boundary geometry (normals, crossings, transfer, dominant labels), certification by the
one bound-propagation engine (:mod:`categories.bounds`, for any JAX classifier) and
retraining. Its command line (``python -m categories``) is :mod:`categories.cli`.

Example:
    >>> from categories import verdict
    >>> verdict({"robust": 0.1, "pointwise": 0.9, "universal": 0.85, "random": 0.2}, 0.8)
    3
"""

from categories.bounds import SUPPORTED, Program, UnsupportedPrimitive, bound_boxes, trace_program
from categories.certify import (Certificate, attack_robust, certify_curve, certify_measure,
                                certify_points, certify_report, certify_sweep)
from categories.certified import (Bracket, Certified, CertifiedCurve, PointwiseBrackets,
                                  UniversalBracket, certified_curve, certified_fractions,
                                  certified_pointwise, certified_random, certified_universal)
from categories.crossings import (Crossings, crossing_counts, crossings_measure,
                                  crossings_report, dense_crossing_counts, histogram)
from categories.dominant import DominantLabels, dominant_labels, dominant_measure, dominant_report
from categories.estimate import Estimates, estimate_fractions
from categories.exact2d import (Fractions, Profile, exact_at, exact_fractions, scan_profile,
                                sphere_point)
from categories.normals import (NormalSpectrum, deepfool_flips, deepfool_minimal_perturbations,
                                exact_minimal_perturbations, measure_normals, normal_angles,
                                normal_spectrum, normals_report, random_unit_vectors,
                                singular_values, spectrum_curve, unit_normals)
from categories.checks import SEED_MAX, check_eps, check_seed
from categories.report import KEYS, format_table, report_task
from categories.retrain import (METHODS, Retrained, check_method, class_gaps, perturb, retrain,
                                retrain_measure, retrain_report)
from categories.thresholds import (LADDER, PRECISION, Change, Changes, grid_hints,
                                   locate_changes)
from categories.timeline import Timeline, fractions_over_training, settled_at, timeline_caption
from categories.transfer import (FAMILIES, Transfer, default_family, family_of, fooling_matrix,
                                 seed_family, transfer_matrix, transfer_on, transfer_report,
                                 transfer_summary, universal_delta)
from categories.verdict import (DEFAULT_TAU, FORMULAS, FRACTION_OF, NAMES, TRUSTED_ACCURACY, Rung,
                                accuracy_caveat, check_tau, ladder, verdict, verdict_changes)

__all__ = [
    "SUPPORTED", "Program", "UnsupportedPrimitive", "bound_boxes", "trace_program",
    "Certificate", "attack_robust", "certify_curve", "certify_measure", "certify_points",
    "certify_report", "certify_sweep",
    "Bracket", "Certified", "CertifiedCurve", "PointwiseBrackets", "UniversalBracket",
    "certified_curve", "certified_fractions", "certified_pointwise", "certified_random",
    "certified_universal",
    "Crossings", "crossing_counts", "crossings_measure", "crossings_report",
    "dense_crossing_counts", "histogram",
    "DominantLabels", "dominant_labels", "dominant_measure", "dominant_report",
    "Estimates", "estimate_fractions",
    "Fractions", "Profile", "exact_at", "exact_fractions", "scan_profile", "sphere_point",
    "NormalSpectrum", "deepfool_flips", "deepfool_minimal_perturbations",
    "exact_minimal_perturbations", "measure_normals", "normal_angles", "normal_spectrum",
    "normals_report", "random_unit_vectors", "singular_values", "spectrum_curve", "unit_normals",
    "KEYS", "SEED_MAX", "check_eps", "check_seed", "format_table", "report_task",
    "METHODS", "Retrained", "check_method", "class_gaps", "perturb", "retrain", "retrain_measure",
    "retrain_report",
    "LADDER", "PRECISION", "Change", "Changes", "grid_hints", "locate_changes",
    "Timeline", "fractions_over_training", "settled_at", "timeline_caption",
    "FAMILIES", "Transfer", "default_family", "family_of", "fooling_matrix", "seed_family",
    "transfer_matrix", "transfer_on", "transfer_report", "transfer_summary", "universal_delta",
    "DEFAULT_TAU", "FORMULAS", "FRACTION_OF", "NAMES", "TRUSTED_ACCURACY", "Rung",
    "accuracy_caveat", "check_tau", "ladder", "verdict", "verdict_changes",
]
