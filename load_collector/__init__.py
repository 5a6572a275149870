"""Per-host load collector for cryptomine-scheduler."""
