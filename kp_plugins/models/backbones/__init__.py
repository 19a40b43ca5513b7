from .efficientnet_lite import KPEfficientNetLite  # noqa: F401
