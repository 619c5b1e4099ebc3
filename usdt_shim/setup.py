"""scope_shim's extension, and its public header inside the package
(`scope_shim.get_include()`) for native extensions that emit scope's events.

The extension is optional: where it cannot build (not Linux, no <sys/sdt.h>)
the package installs as pure Python and its API does nothing (scope_shim/_inert.py)."""
import shutil
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


class build_py_with_header(build_py):
    def run(self):
        super().run()
        dest = Path(self.build_lib) / "scope_shim" / "include"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(HERE / "include" / "scope_shim.h", dest / "scope_shim.h")


setup(ext_modules=[Extension(
    "scope_shim._shim",
    sources=["src/module.c", "src/tracing.c", "src/semaphores.c", "src/ring.c"],
    include_dirs=["src", "include"],
    extra_compile_args=["-O2", "-fvisibility=hidden"],
    optional=True,
)], cmdclass={"build_py": build_py_with_header})
