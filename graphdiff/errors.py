"""The exception hierarchy: every error graphdiff raises on purpose derives from GraphdiffError."""


class GraphdiffError(Exception):
    """Base class of graphdiff's errors."""


class GraphError(GraphdiffError):
    """A graph cannot be built as asked: incompatible shapes, mixed graphs, bad arguments."""


class GradError(GraphdiffError):
    """A gradient cannot be built as asked: non-scalar z without a seed, unconnected target."""


class FeedError(GraphdiffError):
    """A value fed to a graph is missing or does not match its input's declaration."""


class AnomalyError(GraphdiffError):
    """A node produced NaN or infinity while anomaly checking was on."""


class FileFormatError(GraphdiffError):
    """A saved file is corrupt, or does not match what it is loaded into."""
