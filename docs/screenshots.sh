#!/bin/sh
# Regenerate the README's screenshots (docs/ui-*.png) at 1280 and 390 px: the browser test
# drives a real Datasette on fresh test data through the five jobs and saves what it sees.
# Needs the test extras (make .venv/.installed) and Debian's chromium + chromium-driver
# (the test installs them with apt-get when run as root).
set -e
cd "$(dirname "$0")/.."
EARFUL_SCREENSHOTS=docs .venv/bin/python -m pytest tests/test_browser.py -q -p no:cacheprovider "$@"
