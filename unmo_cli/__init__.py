"""unmo: the operator command-line tool of the UnMoGrowP mobile attribution platform."""

__version__ = "0.1.0"
