"""Line-based ini editing with devstack's semantics, for the harness.

    ini_edit.py set FILE SECTION OPTION VALUE      (iniset)
    ini_edit.py get FILE SECTION OPTION            (iniget: first value)
    ini_edit.py get-multi FILE SECTION OPTION      (iniget_multiline)
    ini_edit.py add FILE SECTION OPTION VALUE...   (iniadd)

An option may occur several times in a section (``available_filters``),
which is why this is not configparser.  A missing file reads as empty.
"""

import os
import re
import sys


def _read(path: str) -> list[str]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().splitlines()


def _section_bounds(lines: list[str], section: str) -> tuple[int, int]:
    """Indexes of the section header and of the line after its end;
    (-1, -1) when there is no such section."""
    start = -1
    for i, line in enumerate(lines):
        if re.fullmatch(r'\[(.*)\]\s*', line):
            if start >= 0:
                return start, i
            if line.strip() == f'[{section}]':
                start = i
    return (start, len(lines)) if start >= 0 else (-1, -1)


def _option_lines(lines, start, end, option) -> list[int]:
    pattern = re.compile(rf'{re.escape(option)}\s*=')
    return [i for i in range(start + 1, end) if pattern.match(lines[i])]


def _values(lines, section, option) -> list[str]:
    start, end = _section_bounds(lines, section)
    if start < 0:
        return []
    return [lines[i].split('=', 1)[1].strip()
            for i in _option_lines(lines, start, end, option)]


def _set_values(lines, section, option, values) -> list[str]:
    """Replace every line of ``option`` by one line per value."""
    start, end = _section_bounds(lines, section)
    if start < 0:
        lines = lines + ['', f'[{section}]']
        start, end = len(lines) - 1, len(lines)
    existing = _option_lines(lines, start, end, option)
    at = existing[0] if existing else start + 1
    kept = [line for i, line in enumerate(lines) if i not in existing]
    return kept[:at] + [f'{option} = {v}' for v in values] + kept[at:]


def main(argv: list[str]) -> int:
    command, path, section, option, *values = argv
    lines = _read(path)
    if command == 'get':
        found = _values(lines, section, option)
        print(found[0] if found else '')
        return 0
    if command == 'get-multi':
        print(' '.join(_values(lines, section, option)))
        return 0
    if command == 'set':
        lines = _set_values(lines, section, option, values)
    elif command == 'add':
        lines = _set_values(lines, section, option,
                            _values(lines, section, option) + values)
    else:
        print(f'unknown command {command!r}', file=sys.stderr)
        return 2
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
