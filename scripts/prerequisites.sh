#!/bin/sh
# Checks what `make run` and `make test` need from the system, and says how to
# install whatever is missing. Run as root on Debian/Ubuntu, it installs the
# missing Debian packages itself.
set -eu

PYTHON="${PYTHON:-python3}"
missing_packages=""
problems=""

need() {  # need <debian package> <what it is> <how to install elsewhere>
    missing_packages="$missing_packages $1"
    problems="$problems\n  - $2 is missing. Debian/Ubuntu: apt-get install $1; elsewhere: $3"
}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    need "python3 python3-venv" "Python 3.11 or newer ($PYTHON)" "https://www.python.org/downloads/ (or set PYTHON=python3.12)"
elif ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then
    need python3-venv "Python's venv module" "reinstall Python with venv and ensurepip"
fi
command -v npm >/dev/null 2>&1 || need npm "npm (Node.js)" "https://nodejs.org/"
if ! ldconfig -p 2>/dev/null | grep -q 'libMagickWand-6\|libMagickWand-7'; then
    need libmagickwand-6.q16-6 "ImageMagick's MagickWand library" "brew install imagemagick (macOS)"
fi

[ -z "$missing_packages" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing missing Debian packages:$missing_packages"
    apt-get update -qq
    # shellcheck disable=SC2086  # one word per package
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing_packages
    exit 0
fi

printf "QuartFeed needs:%b\n" "$problems" >&2
exit 1
