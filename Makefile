# The README's two commands are `make app` and `make test`; both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := resources/samples/sample.png

DESKTOP_DIR := $(HOME)/.local/share/applications
ICON_DIR := $(HOME)/.local/share/icons/hicolor/scalable/apps

.PHONY: setup app qt-libs test lint bench eval wheel desktop gpu-prepare

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: here pip takes the CPU wheel that lies on disk (/opt/wheels); elsewhere
# it is the normal PyPI release. The project itself only asks for torch>=2.2.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[gui,dev]'
	touch $@

setup: $(VENV)/.installed

app: setup qt-libs
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; then \
		$(BIN)/sidejpeg-gui $(SAMPLE); \
	else \
		echo "No display found: rendering the app offscreen to app-screenshot.png instead."; \
		QT_QPA_PLATFORM=offscreen $(BIN)/sidejpeg-gui --screenshot app-screenshot.png $(SAMPLE); \
	fi

# Qt's X11 plugin needs system libraries the PySide6 wheel does not bring (libxcb-cursor0 and others). Name
# the missing ones and their Debian/Ubuntu packages (libxcb-icccm.so.4: libxcb-icccm4) rather than let Qt
# abort with "could not load the Qt platform plugin xcb".
qt-libs:
	@plugin=$$($(BIN)/python -c 'import os, PySide6; print(os.path.dirname(PySide6.__file__))' 2>/dev/null)/Qt/plugins/platforms/libqxcb.so; \
	if [ "$$(uname)" = Linux ] && [ -n "$$DISPLAY" ] && [ -f "$$plugin" ]; then \
		missing=$$(ldd "$$plugin" | awk '/not found/ {print $$1}' | sort -u); \
		if [ -n "$$missing" ]; then \
			echo "Qt cannot open a window on X11: missing" $$missing; \
			echo "Debian/Ubuntu: sudo apt install" $$(echo "$$missing" | sed -E 's/([0-9])\.so\./\1-/; s/\.so\.//' | tr A-Z a-z); \
			echo "(Qt 6 on X11 needs libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0" \
				"libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xkb1)"; \
			exit 1; \
		fi; \
	fi

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m benchmarks.run

# What a lent GPU needs beside the repository (scripts/gpu_session.sh, scripts/gpu_train.sh), under the ignored
# runs/: a pack of the training data, wheels of the dependencies its image lacks (for its Python 3.12) and 50
# JPEGs + sidecars written on this CPU for the cross-device check. All of it and the working tree must fit in
# the 64 MiB a device call carries: the pack gets what the rest (the cross-device set is about 3 MiB) leaves,
# at most 12 MiB, and the last line fails if the whole would not travel (scripts/device_travel.py).
GPU_WHEELS := pyjpegli==0.3.2 constriction==0.5.0 jpeglib==1.0.2
gpu-prepare: setup
	rm -rf runs/pack runs/wheels runs/xdev-cpu
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
		--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
		-d runs/wheels $(GPU_WHEELS)
	mib=$$($(BIN)/python scripts/device_travel.py --left runs/wheels --reserve 3 --most 12) && \
		$(BIN)/sidejpeg pack --out runs/pack --side 192 --mib $$mib
	$(BIN)/python -m benchmarks.cross_device write runs/xdev-cpu --count 50
	$(BIN)/python scripts/device_travel.py --check runs/pack runs/wheels runs/xdev-cpu

# The installable wheel in dist/, weights and sample image included (pip install dist/sidejpeg-*.whl).
# build/ goes first: setuptools would pack stale modules left there by an earlier build.
wheel: setup
	rm -rf build dist
	$(BIN)/python -m pip wheel -q --no-deps --no-build-isolation -w dist .

# A launcher in the desktop's menus (freedesktop.org: GNOME, KDE...) that runs this checkout's app.
desktop: setup
	mkdir -p $(DESKTOP_DIR) $(ICON_DIR)
	cp resources/desktop/sidejpeg.svg $(ICON_DIR)/sidejpeg.svg
	sed -e 's|^Exec=sidejpeg-gui|Exec="$(abspath $(BIN))/sidejpeg-gui"|' \
		-e 's|^TryExec=sidejpeg-gui|TryExec=$(abspath $(BIN))/sidejpeg-gui|' \
		resources/desktop/sidejpeg.desktop > $(DESKTOP_DIR)/.sidejpeg.desktop.tmp
	mv $(DESKTOP_DIR)/.sidejpeg.desktop.tmp $(DESKTOP_DIR)/sidejpeg.desktop
	-update-desktop-database -q $(DESKTOP_DIR) 2>/dev/null
