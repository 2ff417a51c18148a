#!/usr/bin/env bash
# Keep only the headless OpenCV in a venv: scripts/keep-headless-opencv.sh VENV_PYTHON
#
# rapidocr-onnxruntime (the wheel that carries the local reader's models; the emulator's
# reader) declares the GUI build opencv-python, which shares the cv2 folder with
# opencv-python-headless and needs libGL. The daemon and the emulator need no GUI: when
# the GUI build is there, uninstall it and reinstall the headless one over the shared
# folder. Used by scripts/setup.sh, scripts/install.sh and scripts/rig/deployed.py.
set -o errexit -o pipefail -o nounset
python=${1:?usage: keep-headless-opencv.sh VENV_PYTHON}
if "$python" -m pip show --quiet opencv-python >/dev/null 2>&1; then
  "$python" -m pip uninstall --quiet -y opencv-python
  "$python" -m pip install --quiet --force-reinstall --no-deps \
    "$("$python" -m pip freeze | grep -i '^opencv-python-headless==')"
fi
