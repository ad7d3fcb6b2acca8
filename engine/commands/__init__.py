"""Sub-commands of the ``sidejpeg`` CLI: each module has ``configure(parser)`` and ``run(args) -> int``."""
