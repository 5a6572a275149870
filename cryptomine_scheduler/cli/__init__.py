"""The ``cryptomine`` command line and its OpenStackClient plugin."""
