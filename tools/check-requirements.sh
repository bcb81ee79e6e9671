#!/usr/bin/env bash
# Say clearly, before anything else runs, if Python, Node or Chromaprint is missing or too old.
set -u
fail=0
py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1; then
  echo "error: $py not found. Install Python 3.11 or newer (e.g. apt-get install python3 python3-venv)." >&2
  fail=1
elif ! "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "error: $("$py" --version 2>&1) is too old: Ninety needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)." >&2
  fail=1
elif ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "error: $py has no venv/ensurepip module: install python3-venv (Debian/Ubuntu)." >&2
  fail=1
fi
if ! command -v node >/dev/null 2>&1; then
  echo "error: node not found. Install Node.js 20 or newer (https://nodejs.org or your package manager)." >&2
  fail=1
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "error: Node.js $(node --version) is too old: Ninety needs Node 20 or newer." >&2
  fail=1
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "error: npm not found; it comes with Node.js 20 or newer." >&2
  fail=1
fi
# Uploads are fingerprinted with Chromaprint (pyacoustid loads the C library at run time).
if ! ldconfig -p 2>/dev/null | grep -q libchromaprint; then
  echo "error: the Chromaprint library is missing: install libchromaprint1 (apt-get install libchromaprint1; Homebrew: chromaprint)." >&2
  fail=1
fi
exit $fail
