"""``python -m cryptomine_scheduler.simulator``: compare the placement
policies (on a synthetic mining workload by default), print the table
and write the report (see :mod:`.command`)."""

import argparse
import logging
import sys
import warnings

# As for the console scripts (see cryptomine_scheduler.cmd): the
# simulator imports oslo.messaging, which imports eventlet, which warns
# about its own deprecation; nothing here uses eventlet.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')

from cryptomine_scheduler.simulator import command  # noqa: E402
from cryptomine_scheduler.simulator import files  # noqa: E402
from cryptomine_scheduler.simulator import report  # noqa: E402


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
