"""The errors a command reports in one line, each with its exit code.

Apart from :mod:`.client` so that the commands import them without
oslo.messaging: ``cryptomine --help`` loads every command.

Exit codes of ``cryptomine``:

* 0: success
* 1: any other error (no configuration file, re-planner not configured,
  a move failed, ...)
* 2: usage error (unknown command or option: argparse's and cliff's code)
* 3: controller unreachable (the broker refuses, or no controller answers)
* 4: not found: host, plan or aggregate
* 5: nothing to do, or busy (another re-plan round is running)
* 130: interrupted (Ctrl-C)
"""


class CommandError(Exception):
    """A failure reported as one line; ``exit_code`` is the status."""

    exit_code = 1


class ControllerUnreachable(CommandError):
    exit_code = 3


class NotFound(CommandError):
    exit_code = 4


class NothingToDo(CommandError):
    """Nothing was done: nothing worth doing, or another round runs."""

    exit_code = 5
