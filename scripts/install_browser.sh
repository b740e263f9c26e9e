#!/bin/sh
# The gallery tests' browser: Debian's chromium and chromium-driver packages (no browser is
# ever downloaded by a test tool). Does nothing where both are installed already.
set -e
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
