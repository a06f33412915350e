"""Full scale: Flax ports of pretrained ImageNet models, weight conversion, input pipeline, runner, CLI.

Submodules are imported explicitly (``from imagenet.models import load_model``) so
that the command line and the app load only what they use.
"""
