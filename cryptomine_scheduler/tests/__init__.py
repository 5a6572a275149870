# nova's test modules choose their concurrency mode when first imported,
# and eventlet's monkey patching would then leak into every other test of
# the same worker.  Choose native threads before anything imports eventlet,
# as nova-scheduler does in threading mode.
import os

os.environ.setdefault('OS_NOVA_DISABLE_EVENTLET_PATCHING', '1')

from nova import monkey_patch  # noqa: E402

monkey_patch.patch('threading')
