"""Pure functions from the model to manifests, one module per concern.

Each renderer returns :class:`~gitopsgen.render.base.Output` values: a path
relative to the output directory, the objects of that file and where they land.
Nothing here touches the file system or formats YAML.
"""

from gitopsgen.render.base import Context, Output

__all__ = ["Context", "Output"]
