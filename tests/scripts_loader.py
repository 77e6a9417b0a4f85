"""Import a script from scripts/ as a module, to call its main(argv) in tests."""

import importlib.util

from conftest import REPO


def load_script(name):
    spec = importlib.util.spec_from_file_location(f"script_{name}", REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
