# mp2's ModuleLib was a package whose __init__ imported every module file relatively. A module
# folder's files starting with "_" are not module files, so this one is never run by the registry.
from .add import *  # noqa: F401,F403
