"""ailab: a fast, measured work-item tracker core and the toolkit that measures it."""

__version__ = "0.1.0"
