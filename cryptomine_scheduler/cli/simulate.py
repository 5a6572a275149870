"""``cryptomine simulate``: compare placement policies on a trace."""

from cliff import lister

from cryptomine_scheduler.cli import errors


class Simulate(lister.Lister):
    """Replay a utilisation trace under each placement policy.

    Without --trace, a seeded synthetic mining workload and its fleet are
    simulated.  Prints one row of figures per policy and writes
    report.json and PNG plots (heatmap, sigma, cdf) into --output.
    Needs no controller: everything runs in this process.
    """

    auth_required = False

    def get_parser(self, prog_name):
        from cryptomine_scheduler.simulator import command

        parser = super().get_parser(prog_name)
        command.add_arguments(parser)
        return parser

    def take_action(self, parsed_args):
        # The simulator and its plots (numpy, matplotlib) only to run.
        from cryptomine_scheduler.simulator import command
        from cryptomine_scheduler.simulator import report

        try:
            result = command.execute(parsed_args)
        except ValueError as exc:  # unreadable trace or fleet, bad options
            raise errors.CommandError(str(exc)) from None
        written = report.write(result, parsed_args.output)
        self.app.stderr.write(f'report and plots: {", ".join(written)}\n')
        return report.rows(result)
