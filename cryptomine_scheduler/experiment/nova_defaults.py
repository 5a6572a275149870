"""Undo what nova's test fixtures change for the whole process."""

import fixtures
from oslo_log import _options as log_options
from oslo_messaging import transport as messaging_transport
from oslo_middleware import cors


class LibraryDefaultsFixture(fixtures.Fixture):
    """Restore the option defaults that nova changes process-wide.

    nova's ConfFixture calls nova.config.parse_args(), whose
    set_lib_defaults() rewrites the *defaults* of library options shared by
    every ConfigOpts in the process: oslo.messaging's ``control_exchange``
    becomes 'nova' (so a later test's RPC client publishes to another
    exchange than a non-nova server listens on), oslo.log's
    ``default_log_levels`` grows on every test, and the CORS defaults change
    (generated config samples differ).  Put them back after the test.
    """

    OPTS = (messaging_transport._transport_opts, log_options.log_opts,
            cors.CORS_OPTS)

    def _setUp(self):
        saved = [(opt, opt.default) for opts in self.OPTS for opt in opts]
        self.addCleanup(self._restore, saved)

    @staticmethod
    def _restore(saved):
        for opt, default in saved:
            opt.default = default
