"""emoflow: the tested Python package behind the KEMDy19 multimodal emotion workflow.

The Snakemake scripts under ``workflow/scripts`` are thin wrappers around this package.
"""

__version__ = "0.1.0"
