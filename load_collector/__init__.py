"""Per-host load collector for cryptomine-scheduler."""

import os
import warnings

# oslo.messaging imports eventlet, whose green DNS resolver pulls in
# dnspython and pyOpenSSL: megabytes of RSS on every compute host for a
# resolver the collector never uses.  Must be set before that import.
os.environ.setdefault('EVENTLET_NO_GREENDNS', 'yes')
# Its import also warns that eventlet is deprecated; the collector uses
# native threads and never uses eventlet.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
