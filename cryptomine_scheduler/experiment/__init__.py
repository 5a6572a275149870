"""Testbed experiments: a workload trace replayed on a real cloud.

``cryptomine experiment run`` boots one VM per trace VM, each running
:mod:`.player` on its part of the trace, and tears everything down at
the end (:mod:`.runner`, :mod:`.record`); ``cryptomine experiment
report`` compares what was measured with the simulator's prediction
(:mod:`.measured`, :mod:`.fidelity`).
"""
