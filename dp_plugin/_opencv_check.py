"""Warn when more than one OpenCV distribution is installed (they share one ``cv2/``)."""
import warnings
from typing import List

#: The pip distributions that all install the same ``cv2`` package.
OPENCV_FLAVOURS = ('opencv-python', 'opencv-python-headless', 'opencv-contrib-python',
                   'opencv-contrib-python-headless')
FIX = ('pip uninstall -y opencv-python opencv-python-headless opencv-contrib-python '
       'opencv-contrib-python-headless && pip install opencv-python-headless==5.0.0.93')


def installed_opencv_flavours() -> List[str]:
    """The OpenCV distributions found by ``importlib.metadata`` (no import of cv2)."""
    from importlib.metadata import PackageNotFoundError, distribution
    found = []
    for name in OPENCV_FLAVOURS:
        try:
            distribution(name)
        except PackageNotFoundError:
            continue
        found.append(name)
    return found


def warn_if_several_opencv() -> None:
    """Warn, with the one-line fix, when two or more OpenCV flavours are installed:
    each overwrites the other's ``cv2/`` files and uninstalling one breaks the other."""
    found = installed_opencv_flavours()
    if len(found) > 1:
        warnings.warn(f'dp_plugin: {len(found)} OpenCV distributions are installed '
                      f'({", ".join(found)}); they share one cv2/ folder and break each '
                      f'other. Keep one: {FIX}', RuntimeWarning, stacklevel=3)
