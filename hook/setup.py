"""Build hooks for spcstream-pywats: ship ``spcstream_pywats-autoload.pth``.

The ``.pth`` file must land at the root of site-packages (not inside the package),
which plain setuptools metadata cannot express.  Two small command overrides place
it there for regular wheels (``build_py``) and for PEP 660 editable installs
(``editable_wheel``, used by ``pip install -e hook``).  Everything else lives in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

PTH_NAME = "spcstream_pywats-autoload.pth"
PTH_SOURCE = Path(__file__).resolve().parent / "src" / PTH_NAME


class BuildPyWithPth(build_py):
    """build_py that also copies the autoload .pth file to the wheel root."""

    def run(self) -> None:
        """Build the packages, then add the .pth file next to them."""
        super().run()
        self.mkpath(self.build_lib)
        shutil.copyfile(PTH_SOURCE, Path(self.build_lib) / PTH_NAME)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        """Declare the .pth file as a build output."""
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH_NAME)]


cmdclass: dict[str, type] = {"build_py": BuildPyWithPth}

try:
    from setuptools.command.editable_wheel import editable_wheel

    class EditableWheelWithPth(editable_wheel):
        """editable_wheel that puts the .pth file into the editable wheel's root."""

        def _run_build_commands(self, dist_name, unpacked_wheel, build_lib, tmp_dir):  # type: ignore[no-untyped-def]  # noqa: ANN001, ANN202
            result = super()._run_build_commands(dist_name, unpacked_wheel, build_lib, tmp_dir)
            shutil.copyfile(PTH_SOURCE, Path(str(unpacked_wheel)) / PTH_NAME)
            return result

    cmdclass["editable_wheel"] = EditableWheelWithPth
except ImportError:  # setuptools < 64: no PEP 660 editable wheels
    pass

setup(cmdclass=cmdclass)
