"""Put on PYTHONPATH by `scope run`: load scope_shim before the program starts,
then run the program's own sitecustomize, if there is one, as if we were not here."""
import importlib.machinery
import importlib.util
import os
import sys

try:
    import scope_shim  # noqa: F401  (starts the call-tracing switch)
except Exception as exc:  # the program must start regardless
    sys.stderr.write(f"scope: the shim did not load ({exc}); calls will not be recorded\n")

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.machinery.PathFinder.find_spec(
    "sitecustomize", [p for p in sys.path if os.path.abspath(p or ".") != _here])
if _spec is not None:
    # the import system reads sys.modules["sitecustomize"] when we return: the
    # program's own module takes our place there
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["sitecustomize"] = _module
    _spec.loader.exec_module(_module)
