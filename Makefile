# The README's two commands are `make app` and `make test`; both set everything up first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAMPLE := resources/samples/sample.png

.PHONY: setup app test lint bench eval

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

app: setup
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ] || [ "$$(uname)" = Darwin ]; then \
		$(BIN)/sidejpeg-gui $(SAMPLE); \
	else \
		echo "No display found: rendering the app offscreen to app-screenshot.png instead."; \
		QT_QPA_PLATFORM=offscreen $(BIN)/sidejpeg-gui --screenshot app-screenshot.png $(SAMPLE); \
	fi

test: setup
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m benchmarks.run
