# Two commands for a fresh clone:  `make demo`  and  `make test`.
# Both create .venv if missing and install the pinned requirements once
# (a stamp keyed on the requirements files makes the second run fast).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt requirements-nodeps.txt 2>/dev/null | sha1sum | cut -c1-12)
# What PySide6's Qt needs (found with `ldd` on PySide6/Qt{Core,Gui,Widgets,Test}.abi3.so and
# Qt/plugins/platforms/*.so, mapped to Debian 12 packages with `dpkg -S`; app/qt_env.py has
# the same map and checks it before Qt starts; tests/app/test_qt_env.py keeps the two in step).
QTPKGS := libglib2.0-0 libgl1 libegl1 libglx0 libglvnd0 libfontconfig1 libfreetype6 libpng16-16 \
	libbrotli1 libexpat1 libffi8 libbsd0 libmd0 libpcre2-8-0 libzstd1 zlib1g libdbus-1-3 \
	libxkbcommon0 libxkbcommon-x11-0 libx11-6 libx11-xcb1 libxau6 libxdmcp6 libxcb1 libxcb-cursor0 \
	libxcb-glx0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render0 \
	libxcb-render-util0 libxcb-shape0 libxcb-shm0 libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1 \
	libwayland-client0 libwayland-cursor0
SYSPKGS := libportaudio2 fonts-wqy-microhei xvfb xauth $(QTPKGS)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export PYTHONUNBUFFERED := 1

.PHONY: demo test install sysdeps app bench clean-venv

# `make test TESTS=tests/app` runs one folder
TESTS ?=

demo: install
	$(VPY) main_demo.py --text "你好，介绍一下你自己"

test: install sysdeps
	$(VPY) -m pytest -q $(TESTS)

app: install sysdeps
	$(VPY) -m app

bench: install
	$(VPY) -m pipelines bench latency --turns 3

install: $(STAMP)

$(STAMP): requirements.txt $(wildcard requirements-nodeps.txt)
	@if [ -L $(VENV) ] && [ ! -e $(VENV) ]; then rm -f $(VENV); fi  # a dangling .venv link
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip "setuptools<81" wheel
	$(VPY) -m pip install -q -r requirements.txt
	@if [ -f requirements-nodeps.txt ]; then $(VPY) -m pip install -q --no-deps -r requirements-nodeps.txt; fi
	$(VPY) -m pipelines.voice.sovits_compat --fix
	$(VPY) -m pipelines.install_check
	@rm -f $(VENV)/.installed-*
	@touch $@

# System packages: PortAudio (sound output), a CJK font (Chinese in the window),
# Xvfb (GUI tests in a real window), the libraries Qt links (QTPKGS).  Installed when we are root with apt;
# otherwise the exact command is printed and everything still runs without them.
sysdeps:
	@missing=""; for p in $(SYSPKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing system packages:$$missing"; \
		(apt-get install -y -q $$missing >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$missing >/dev/null 2>&1)) \
		|| echo "warning: could not install$$missing; run: sudo apt-get install -y$$missing"; \
	else \
		echo "optional system packages missing:$$missing"; \
		echo "  install them with: sudo apt-get install -y$$missing"; \
		echo "  (without them: no sound output, no CJK font; without the Qt ones no window and the Qt tests skip)"; \
	fi

clean-venv:
	rm -rf $(VENV)
