"""``python -m cryptomine_scheduler.simulator``: compare the placement
policies (on a synthetic mining workload by default), print the table
and write the report (see :mod:`.command`)."""

import argparse
import logging
import sys

from cryptomine_scheduler.simulator import command
from cryptomine_scheduler.simulator import report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m cryptomine_scheduler.simulator',
        description=__doc__.split('\n\n')[0])
    command.add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format='%(message)s')
    try:
        result = command.execute(args)
    except ValueError as exc:  # unreadable trace or fleet, bad options
        parser.error(str(exc))
    print(report.table(result))
    written = report.write(result, args.output)
    print(f'\nreport and plots: {", ".join(written)}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
