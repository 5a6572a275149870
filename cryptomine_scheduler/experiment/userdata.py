"""The cloud-init user data that makes a guest play its schedule.

A ``#cloud-config`` document: ``write_files`` puts :mod:`.player` (the
module's own source, shipped in this package) and the guest's schedule
under :data:`FOLDER`, and a systemd unit that runs it; ``runcmd``
enables and starts the unit, so the player starts again after a reboot
(a cold migration reboots the guest) and joins its schedule where it
stands.  Without systemd, ``runcmd`` starts the player once, in the
background, its output in ``player.log`` there.
"""

import json
import os

import yaml

from cryptomine_scheduler.experiment import player

#: Where the player and its schedule live in the guest.
FOLDER = '/opt/cryptomine-player'
#: The systemd unit that runs the player.
UNIT = 'cryptomine-player.service'
#: nova's limit on user data, base64-encoded.
MAX_BASE64_BYTES = 65535


class UserDataTooLarge(ValueError):
    """The schedule makes the user data larger than nova accepts."""


def player_source() -> str:
    """The player's source, as the package ships it."""
    with open(os.path.splitext(player.__file__)[0] + '.py',
              encoding='utf-8') as f:
        return f.read()


def render(schedule: player.Schedule) -> str:
    """The user data of a guest that plays ``schedule``."""
    command = f'python3 {FOLDER}/player.py {FOLDER}/schedule.json'
    unit = ('[Unit]\nDescription=cryptomine load player\n'
            'After=time-sync.target\n\n'
            f'[Service]\nExecStart=/usr/bin/env {command}\n\n'
            '[Install]\nWantedBy=multi-user.target\n')
    start = (f'if command -v systemctl >/dev/null; then systemctl '
             f'daemon-reload && systemctl enable --now {UNIT}; else nohup '
             f'{command} >{FOLDER}/player.log 2>&1 & fi')
    document = {
        'write_files': [
            {'path': f'{FOLDER}/player.py', 'permissions': '0755',
             'content': player_source()},
            {'path': f'{FOLDER}/schedule.json', 'permissions': '0644',
             'content': json.dumps(schedule._asdict())},
            {'path': f'/etc/systemd/system/{UNIT}', 'permissions': '0644',
             'content': unit},
        ],
        'runcmd': [['sh', '-c', start]],
    }
    text = '#cloud-config\n' + yaml.safe_dump(document, sort_keys=False)
    encoded = (len(text.encode('utf-8')) + 2) // 3 * 4
    if encoded > MAX_BASE64_BYTES:
        raise UserDataTooLarge(
            f'user data of {encoded} bytes (base64) is over nova\'s '
            f'{MAX_BASE64_BYTES}: play fewer steps (--duration) or '
            'compress the trace more')
    return text


def schedule_of(text: str) -> player.Schedule:
    """The schedule in user data ``text`` (to check what a guest got)."""
    document = yaml.safe_load(text)
    for entry in document['write_files']:
        if entry['path'].endswith('/schedule.json'):
            return player.Schedule(**json.loads(entry['content']))
    raise ValueError('no schedule in the user data')

