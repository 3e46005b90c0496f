# Two entry points for a fresh machine (see README):
#   make demo   -- set up .venv and run the end-to-end demo on built-in data
#   make test   -- set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
VPY    := $(VENV)/bin/python
PIP    := $(VPY) -m pip
# CPU default; CUDA users: see docs/install.md (same pins, GPU machine keeps the CUDA build).
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1
OPENCV_PIN ?= opencv-python-headless==5.0.0.93
STAMP  := $(VENV)/.dp-plugin-installed

.PHONY: venv test demo wheel clean-venv

venv: $(STAMP)

$(STAMP): requirements.txt setup.py
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH_PINS)
	$(PIP) install -q -r requirements.txt
	# mmengine/mmcv pull opencv-python; keep exactly one OpenCV flavour (headless) installed last.
	$(PIP) uninstall -q -y opencv-python opencv-python-headless
	$(PIP) install -q $(OPENCV_PIN)
	$(PIP) install -q --no-deps --no-build-isolation -e .
	$(VPY) -c "import dp_plugin, mmseg.models, timm, cv2; print('dp_plugin', dp_plugin.__version__, 'ready')"
	touch $(STAMP)

test: venv
	$(VPY) -m pytest -q tests

# also installs the DP model and weights in $${DP_PLUGIN_HOME:-~/.cache/dp_plugin} (docs/install.md)
demo: venv
	$(VPY) tools/demo.py --out demo_out

# dist/dp_plugin-*.whl with configs/ and tools/ under dp_plugin/.mim (docs/install.md)
wheel: venv
	$(PIP) wheel -q --no-deps --no-build-isolation -w dist .

clean-venv:
	rm -rf $(VENV)
