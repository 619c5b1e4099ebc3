"""Builds scope's two C extensions (the correlator's event loop; the drain that
moves records out of the shim's rings on its own thread), and puts the
shim's sources (usdt_shim/) inside the `scope` package of a wheel, where
probes/shim.py looks for them to build the shim for a target's interpreter
(in a source tree they sit beside it). Everything else is pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

# what probes/shim.py compiles and copies (its SOURCES and _source_digest's list)
SHIM_FILES = ("src/*.c", "src/*.h", "include/*.h", "scope_shim/*.py", "boot/*.py")


class build_py_with_shim(build_py):
    def run(self):
        super().run()
        here = Path(__file__).resolve().parent / "usdt_shim"
        dest = Path(self.build_lib) / "scope" / "usdt_shim"
        for pattern in SHIM_FILES:
            for src in sorted(here.glob(pattern)):
                target = dest / src.relative_to(here)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, target)


setup(ext_modules=[Extension("scope.collector._correlate", ["collector/_correlate.c"],
                             depends=["collector/_correlate_tables.h", "collector/_correlate_drain.h"],
                             extra_compile_args=["-O2"]),
                   # the ring's layout comes from the one header the shim and the probes share
                   Extension("scope.collector._drain", ["collector/_drain.c"],
                             include_dirs=["usdt_shim/include"],
                             depends=["usdt_shim/include/scope_events.h", "collector/_spill_codec.h"],
                             extra_compile_args=["-O2", "-Wall"])],
      cmdclass={"build_py": build_py_with_shim})
