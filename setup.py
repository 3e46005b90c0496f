"""dp-plugin: DiffusionPrint as a drop-in forensic modality for MMSegmentation, TruFor and MMFusion."""
import os.path as osp
import re

from setuptools import find_packages, setup


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


setup(
    name='dp-plugin',
    version=_version(),
    description='DiffusionPrint forensic modality for OpenMMLab, TruFor and MMFusion',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(include=['dp_plugin', 'dp_plugin.*', 'adapters', 'adapters.*']),
    py_modules=['dp_plugin_cli'],  # console-script launcher: parses before importing torch
    include_package_data=True,
    package_data={'dp_plugin.simulate': ['weights/*.safetensors']},
    python_requires='>=3.9',
    install_requires=['torch', 'torchvision'] + _requirements() + ['opencv-python-headless'],
    extras_require={'generate': ['diffusers==0.35.2', 'transformers==4.57.6', 'accelerate']},
    entry_points={'console_scripts': [
        'dp-localize=dp_plugin_cli:localize',
        'dp-simulate=dp_plugin.simulate.cli:main',
    ]},
    license='Apache-2.0',
)
