"""The installed package's version, as pip reports it.

pbr's ``VersionInfo.version_string()`` drops the development suffix
(``0.0.1`` where pip says ``0.0.1.dev108``); the installed metadata has
the whole string, so ``--version`` and ``pip show`` agree.
"""

from importlib import metadata

DISTRIBUTION = 'cryptomine-scheduler'


def version_string() -> str:
    """The release string, e.g. ``0.1.0`` or ``0.1.1.dev12``."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source tree, not installed
        # Imported only here: every daemon would load it for nothing.
        from pbr import version as pbr_version
        return pbr_version.VersionInfo(DISTRIBUTION).release_string()
