"""`modulespack infer PROJECT_DIR`: the parser lives with `train` (modulespack.cli.train)."""
from .train import add_infer_parser as add_parser

__all__ = ["add_parser"]
