"""Builds scope's one C extension (the correlator's event loop); everything else is pyproject.toml."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("scope.collector._correlate", ["collector/_correlate.c"],
                             depends=["collector/_correlate_tables.h", "collector/_correlate_drain.h"],
                             extra_compile_args=["-O2"])])
