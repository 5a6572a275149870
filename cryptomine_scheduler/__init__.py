"""Load-aware VM placement for OpenStack mining clouds."""
