"""Refresh the command outputs in README.md: every `<!-- run: COMMAND -->` line (optionally
`<!-- run: COMMAND | grep REGEX -->`) is followed by a fenced block, which is replaced by what
the command prints now. Run from the repository root: .venv/bin/python scripts/refresh_readme.py
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

MARK = re.compile(r"^<!-- run: (?P<cmd>.+?)(?: \| grep (?P<pat>.+?))? -->$")


def run(cmd: str, pat: str | None) -> str:
    exe = str(Path(sys.executable).with_name("podwright"))
    args = cmd.split()
    if args[0] == "podwright":
        args[0] = exe
    elif args[0] == "python":
        args[0] = sys.executable
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    lines = out.rstrip().splitlines()
    if pat:
        lines = [line for line in lines if re.search(pat, line)]
    return "\n".join(lines)


def main() -> None:
    path = Path("README.md")
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        out.append(lines[i])
        m = MARK.match(lines[i])
        if m and i + 1 < len(lines) and lines[i + 1].startswith("```"):
            end = next(j for j in range(i + 2, len(lines)) if lines[j].startswith("```"))
            out += ["```", run(m["cmd"], m["pat"]), "```"]
            i = end + 1
            continue
        i += 1
    path.write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
