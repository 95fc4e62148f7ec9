"""The exception hierarchy: every error graphdiff raises on purpose derives from GraphdiffError."""


class GraphdiffError(Exception):
    """Base class of graphdiff's errors: the message names the node, what was expected,
    and the file and line of the user code that created the node."""

    def __init__(self, *args: object) -> None:
        # Spelt out so that inspect.signature (and help) can show it, as for every
        # other public name; the behaviour is Exception's.
        super().__init__(*args)


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
