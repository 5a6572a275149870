"""``python -m cryptomine_scheduler.simulator``: compare the placement
policies (on a synthetic mining workload by default), print the table
and write the report (see :mod:`.command`)."""

import argparse
import logging
import sys

from cryptomine_scheduler.simulator import command
from cryptomine_scheduler.simulator import files
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
    except files.InputError as exc:  # a bad trace or fleet file
        print(f'{parser.prog}: error: {exc}', file=sys.stderr)
        return 1
    except ValueError as exc:  # options that do not go together
        parser.error(str(exc))
    print(report.table(result))
    written = report.write(result, args.output)
    print(f'\nreport and plots: {", ".join(written)}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
