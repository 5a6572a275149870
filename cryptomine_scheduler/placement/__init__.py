"""Where a guest may go and how good a host is for it: the load model
shared by the filter, the weigher, the re-planner and the simulator (and
its vectorised form), the devices placement counts on each host, and the
burst tier (which hosts are rented, and releasing those left empty).

Imported by nova-scheduler's filter and weigher: nothing here may pull in
the controller's dependencies at import.
"""
