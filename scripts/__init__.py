"""The Python entry points of scripts/: `python3 -m scripts.demo` and `python3 -m scripts.bench`,
from the repository root (scripts/demo.sh and scripts/bench.sh start them that way)."""
