#!/usr/bin/env python3
"""Writes one row of the Figures table of docs/reliability.md: the figure a long-form run measured,
stamped with the date and the commit it measured, so no figure there is typed by hand.

    scripts/set-figure.py "row name" "figure text" "command that reproduces it"
"""
import datetime
import pathlib
import subprocess
import sys


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    name, figure, command = sys.argv[1:]
    path = pathlib.Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
    lines = path.read_text().split("\n")
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    row = f"| {name} | {figure} (measured {date}, commit {commit()}) | `{command}` |"
    for i, line in enumerate(lines):
        if line.startswith(f"| {name} |"):
            lines[i] = row
            break
    else:
        print(f"set-figure: no row named '{name}' in {path}", file=sys.stderr)
        return 1
    path.write_text("\n".join(lines))
    print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
