"""nova's native threads, chosen before anything imports eventlet.

nova 34 runs under eventlet's monkey patching or with native threads,
chosen when its modules are first imported; native threads are what
nova-scheduler's threading mode runs and what this process shares with
the controller.  Then nova's tests, which must come before other nova
modules.
"""

import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova import monkey_patch  # noqa: E402

monkey_patch.patch('threading')

import nova.tests  # noqa: E402,F401
