#!/usr/bin/env bash
# Installs the Debian packages certward's tests drive (real openssl, curl, nginx and, for the
# web console's browser tests and screenshots, chromium),
# only when they are missing. Needs root or password-less sudo on a fresh machine.
set -euo pipefail
needed=()
command -v openssl >/dev/null 2>&1 || needed+=(openssl)
command -v curl >/dev/null 2>&1 || needed+=(curl)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || needed+=(nginx)
# Playwright drives this binary (executable_path); its own browser download is never used.
[ -x /usr/bin/chromium ] || needed+=(chromium)
if [ ${#needed[@]} -eq 0 ]; then
    exit 0
fi
echo "installing Debian packages: ${needed[*]}"
if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo -n"
else
    echo "error: need root (or sudo) to install: ${needed[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${needed[@]}"
