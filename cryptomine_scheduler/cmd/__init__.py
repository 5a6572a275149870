"""Console scripts."""

import warnings

# oslo.messaging imports eventlet, which warns about its own deprecation on
# import; our services use native threads and never use eventlet.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
