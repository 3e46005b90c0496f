"""dp-plugin: DiffusionPrint as a drop-in forensic modality for MMSegmentation, TruFor and MMFusion."""
import os.path as osp
import re
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = osp.dirname(osp.abspath(__file__))
#: Repository folders shipped inside the package, as OpenMMLab packages do
#: (``mim train dp_plugin CONFIG``, :func:`dp_plugin.config_path`).
MIM_FOLDERS = ('configs', 'tools')


def _version() -> str:
    with open(osp.join(osp.dirname(__file__), 'dp_plugin', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


def _requirements() -> list:
    """Runtime pins: requirements.txt up to its test-only marker."""
    reqs = []
    with open(osp.join(osp.dirname(__file__), 'requirements.txt')) as f:
        for line in f:
            if 'test-only' in line:
                break
            line = line.split('#')[0].strip()
            if line:
                reqs.append(line)
    return reqs


class BuildPyWithMim(build_py):
    """build_py that also copies ``configs/`` and ``tools/`` to ``dp_plugin/.mim/``.

    Editable installs skip the copy: in a clone the repository's folders are used.
    """

    def run(self) -> None:
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        for folder in MIM_FOLDERS:
            target = osp.join(self.build_lib, 'dp_plugin', '.mim', folder)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(osp.join(HERE, folder), target,
                            ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))


setup(
    name='dp-plugin',
    version=_version(),
    description='DiffusionPrint forensic modality for OpenMMLab, TruFor and MMFusion',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    # the repository's top-level adapters/ installs as dp_plugin.adapters (a top-level
    # `adapters` would clash with PyPI's AdapterHub package); in a clone the shim
    # dp_plugin/adapters/__init__.py points the same name at that folder
    packages=find_packages(include=['dp_plugin', 'dp_plugin.*']),
    package_dir={'dp_plugin.adapters': 'adapters'},
    cmdclass={'build_py': BuildPyWithMim},
    include_package_data=True,
    package_data={'dp_plugin.simulate': ['weights/*.safetensors']},
    python_requires='>=3.9',
    # no OpenCV pin of our own: mmengine/mmcv require opencv-python, and a second flavour
    # would overwrite its cv2/ files (docs/install.md: switching to the headless build)
    install_requires=['torch', 'torchvision'] + _requirements(),
    extras_require={'generate': ['diffusers==0.35.2', 'transformers==4.57.6', 'accelerate']},
    # both parse their options before torch is imported
    entry_points={'console_scripts': [
        'dp-localize=dp_plugin.apis.localize_args:launch',
        'dp-simulate=dp_plugin.simulate.cli:main',
    ]},
    license='Apache-2.0',
)
