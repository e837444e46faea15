# Sourced by the scripts beside it: makes .venv-X.Y for $PYTHON (default python3)
# and builds jupdb into it in release mode. Sets VENV.
PYTHON=${PYTHON:-python3}
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
VENV="$PWD/.venv-$version"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  "maturin>=1.5,<2" -r requirements-test.txt
VIRTUAL_ENV="$VENV" "$VENV/bin/maturin" develop --release --quiet --locked
# Bytecode now, as pip writes it for an installed package: a program that jupdb
# attaches to imports jupdb from here, and where it may not write bytecode
# (PYTHONDONTWRITEBYTECODE) it would compile every module at each attach.
"$VENV/bin/python" -m compileall -q python/jupdb >/dev/null
