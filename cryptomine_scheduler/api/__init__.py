"""``cryptomine-api``: the operators' REST API, in front of the
controller's RPC, behind keystone and oslo.policy."""
