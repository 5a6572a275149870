"""Every dependency names a package of the index, by name and version.

A path, a URL or an archive file in a requirement installs on the
machine that wrote it only.  Checked: the requirement and constraint
files, setup.cfg's requirements and extras, and tox.ini's deps and
install_command.  Only ``-r``/``-c`` of the project's own requirement
files may name a file.
"""

import os
import re
import shlex
from collections.abc import Collection
from collections.abc import Iterator

from oslotest import base
from packaging import requirements
from packaging import utils as packaging_utils

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..',
                                    '..'))
CONSTRAINTS = 'constraints.txt'
_SKIP_DIRS = {'build', 'dist', '__pycache__', 'node_modules',
              'simulation-report'}
_INCLUDE = re.compile(r'-([rc])\s*(\S+)|--(requirement|constraint)(?:=|\s+)'
                      r'(\S+)')
_URL = re.compile(r'(?:^|[\s@])(?:file:|[a-z][a-z0-9+.-]*://)|'
                  r'\b(?:git|hg|svn|bzr)\+', re.IGNORECASE)
_ARCHIVE = re.compile(r'\.(?:whl|tar\.gz|tgz|tar\.bz2|tar\.xz|zip|egg)'
                      r'(?![\w.])', re.IGNORECASE)
# pip options that name a file, a directory or an index.
_SOURCE_OPTIONS = ('-e', '--editable', '-f', '--find-links', '-i',
                   '--index-url', '--extra-index-url', '--no-index',
                   '--trusted-host')
# setup.cfg options holding requirements; all options of [extras].
_SETUP_CFG = {'metadata': ('requires_dist', 'setup_requires_dist'),
              'options': ('install_requires', 'setup_requires',
                          'tests_require'),
              'extras': None, 'options.extras_require': None}


def _strip_comment(line: str) -> str:
    return re.sub(r'(?:^|\s)#.*', '', line).strip()


def problem(line: str, own_files: Collection[str] = (),
            pinned: bool = False) -> str | None:
    """Why ``line`` of a requirements file does not name a package of the
    index by name and version, or None when it does.

    ``own_files`` are the names under which the line may ``-r``/``-c``
    the project's requirement files (``{toxinidir}/`` prefixed or not);
    ``pinned``: a constraint, which must be ``NAME==VERSION``.
    """
    line = _strip_comment(line)
    if not line:
        return None
    include = _INCLUDE.fullmatch(line)
    if include:
        target = include.group(2) or include.group(4)
        target = target.removeprefix('{toxinidir}/')
        if target not in own_files:
            return (f'{target!r} is not one of the project\'s own '
                    'requirement files')
        return None
    if line.startswith('-'):
        return (f'pip option {line.split()[0]}: only -r/-c of the '
                'project\'s own requirement files')
    if _URL.search(line):
        return 'a URL or file: reference'
    if _ARCHIVE.search(line):
        return 'an archive file'
    if line.startswith(('.', '/', '~')) or '/' in line or '\\' in line:
        return 'a path'
    try:
        req = requirements.Requirement(line)
    except requirements.InvalidRequirement as exc:
        return f'not NAME VERSION-SPEC ({exc})'
    if not req.specifier:
        return 'no version'
    if pinned:
        specs = list(req.specifier)
        if (req.extras or len(specs) != 1 or specs[0].operator != '=='
                or '*' in specs[0].version):
            return 'a constraint must be NAME==VERSION'
    return None


def requirement_files() -> list[str]:
    """The project's requirement and constraint files, relative to
    ROOT."""
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith('.')
                   and d not in _SKIP_DIRS and not d.endswith('.egg-info')]
        found += [os.path.relpath(os.path.join(folder, name), ROOT)
                  for name in files if name.endswith('.txt')
                  and ('requirements' in name or 'constraints' in name)]
    return sorted(found)


def ini_values(path: str, wanted) -> Iterator[tuple[int, str, str, str]]:
    """(line number, section, key, value line) of every value line of the
    keys of ``path`` for which ``wanted(section, key)`` is true."""
    section = key = None
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            stripped = raw.strip()
            if not stripped or stripped.startswith(('#', ';')):
                continue
            if raw[0] in ' \t':
                value = stripped
            elif stripped.startswith('['):
                section, key = stripped.strip('[]').strip(), None
                continue
            else:
                key, _, value = (s.strip() for s in stripped.partition('='))
            if key is not None and value and wanted(section, key):
                yield number, section, key, value


def _pip_args(command: str) -> Iterator[str]:
    """The requirement-like arguments of a pip install command line: -r/-c
    (as one argument each) and the options naming a source."""
    args = shlex.split(command)
    args = args[args.index('install') + 1:] if 'install' in args else []
    for i, arg in enumerate(args):
        if arg in ('-r', '-c', '--requirement', '--constraint'):
            yield f'{arg} {args[i + 1]}' if i + 1 < len(args) else arg
        elif _INCLUDE.fullmatch(arg) or arg.split('=')[0] in _SOURCE_OPTIONS:
            yield arg


def dependency_lines() -> Iterator[tuple[str, int, str, bool]]:
    """(file, line number, line, pinned) of every dependency line."""
    files = requirement_files()
    for name in files:
        with open(os.path.join(ROOT, name)) as f:
            for number, line in enumerate(f, 1):
                yield (name, number, line.rstrip('\n'),
                       os.path.basename(name).startswith('constraints'))

    def setup_wanted(section, key):
        return (section in _SETUP_CFG
                and (_SETUP_CFG[section] is None
                     or key in _SETUP_CFG[section]))

    for number, _, _, value in ini_values(os.path.join(ROOT, 'setup.cfg'),
                                          setup_wanted):
        yield 'setup.cfg', number, value, False

    def tox_wanted(section, key):
        return (section is not None and key in ('deps', 'install_command')
                and (section == 'testenv' or section.startswith('testenv:')))

    for number, _, key, value in ini_values(os.path.join(ROOT, 'tox.ini'),
                                            tox_wanted):
        lines = _pip_args(value) if key == 'install_command' else [value]
        for line in lines:
            yield 'tox.ini', number, line, False


def own_files_of(name: str) -> set[str]:
    """How file ``name`` may refer to the project's requirement files."""
    folder = os.path.dirname(name)
    return {os.path.relpath(f, folder or '.') for f in requirement_files()}


class TestProblem(base.BaseTestCase):
    """The check on good and bad lines."""

    OWN = ('requirements.txt', 'constraints.txt')
    GOOD = [
        'pbr>=6.0.0',
        'SQLAlchemy>=2.0.30,<2.1',
        'oslo.config>=9.4.0  # comment',
        'nova>=34.0.0; python_version >= "3.10"',
        'cryptomine-scheduler[controller]>=1.0',
        '# only a comment',
        '',
        '-c{toxinidir}/constraints.txt',
        '-r{toxinidir}/requirements.txt',
        '-r requirements.txt',
        '--constraint constraints.txt',
        '--requirement=requirements.txt',
    ]
    BAD = [
        ('pynvml @ file:///home/me/wheels/pynvml-12.0-py3-none-any.whl',
         'URL'),
        ('nvidia-ml-py @ https://example.org/nvidia_ml_py-13.0.tar.gz',
         'URL'),
        ('file:///home/me/src/tooz', 'URL'),
        ('https://example.org/scipy-1.17.1-cp311.whl', 'URL'),
        ('git+https://opendev.org/openstack/nova@master#egg=nova', 'URL'),
        ('nvidia_ml_py-13.615.71-py3-none-any.whl', 'archive'),
        ('scipy-1.17.1.tar.gz', 'archive'),
        ('./vendor/psutil', 'path'),
        ('/opt/wheels/psutil', 'path'),
        ('../psutil', 'path'),
        ('vendor/psutil', 'path'),
        ('-e .', 'pip option -e'),
        ('-e git+https://opendev.org/openstack/tooz#egg=tooz',
         'pip option -e'),
        ('--editable ./tooz', 'pip option --editable'),
        ('--find-links /opt/wheels', 'pip option --find-links'),
        ('-f https://example.org/wheels', 'pip option -f'),
        ('--index-url https://pypi.internal/simple',
         'pip option --index-url'),
        ('--extra-index-url https://pypi.internal/simple',
         'pip option --extra-index-url'),
        ('-c /home/me/constraints.txt', 'not one of'),
        ('-r ../other-project/requirements.txt', 'not one of'),
        ('-c https://releases.openstack.org/constraints/upper/master',
         'not one of'),
        ('-r{toxinidir}/doc/requirements.txt', 'not one of'),
        ('psutil', 'no version'),
        ('psutil==7.2.2 --hash=sha256:0123', 'not NAME VERSION-SPEC'),
    ]
    PINNED_BAD = ['psutil>=7.2.2', 'psutil==7.*', 'psutil==7.2.2,<8',
                  'tooz[redis]==9.1.0']

    def test_good_lines(self):
        for line in self.GOOD:
            with self.subTest(line=line):
                self.assertIsNone(problem(line, self.OWN))

    def test_bad_lines(self):
        for line, why in self.BAD:
            with self.subTest(line=line):
                self.assertIn(why, problem(line, self.OWN) or 'passed')

    def test_constraints_are_pins(self):
        self.assertIsNone(problem('psutil==7.2.2', pinned=True))
        for line in self.PINNED_BAD:
            with self.subTest(line=line):
                self.assertIn('NAME==VERSION',
                              problem(line, pinned=True) or 'passed')

    def test_pip_args_of_install_command(self):
        self.assertEqual(
            ['-c{toxinidir}/constraints.txt', '-r requirements.txt',
             '--find-links=/opt/wheels', '-e'],
            list(_pip_args('python -I -m pip install '
                           '-c{toxinidir}/constraints.txt -r '
                           'requirements.txt --find-links=/opt/wheels -U '
                           '-e {opts} {packages}')))


class TestProjectRequirements(base.BaseTestCase):

    def test_files_found(self):
        files = requirement_files()
        for name in ('requirements.txt', 'test-requirements.txt',
                     CONSTRAINTS):
            self.assertIn(name, files)

    def test_every_dependency_names_an_index_package(self):
        bad = [f'{name}:{number}: {line.strip()}: {why}'
               for name, number, line, pinned in dependency_lines()
               for why in [problem(line, own_files_of(name), pinned)]
               if why]
        self.assertEqual([], bad)

    def test_every_requirement_is_pinned(self):
        # pip installs what constraints.txt pins; a requirement it does
        # not pin, or pins outside the range, is a version never tested.
        pins = {}
        with open(os.path.join(ROOT, CONSTRAINTS)) as f:
            for line in f:
                line = _strip_comment(line)
                if line:
                    req = requirements.Requirement(line)
                    pins[packaging_utils.canonicalize_name(req.name)] = \
                        next(iter(req.specifier)).version
        unpinned = []
        for name, number, line, pinned in dependency_lines():
            line = _strip_comment(line)
            if (name == CONSTRAINTS or not line or line.startswith('-')
                    or problem(line, own_files_of(name), pinned)):
                continue  # the test above reports a bad line
            req = requirements.Requirement(line)
            pin = pins.get(packaging_utils.canonicalize_name(req.name))
            if pin is None or not req.specifier.contains(pin,
                                                         prereleases=True):
                unpinned.append(f'{name}:{number}: {line} (constraints.txt: '
                                f'{pin})')
        self.assertEqual([], unpinned)

    def test_installers_name_existing_extras(self):
        def extras_of(path, section, key):
            values = ini_values(os.path.join(ROOT, path),
                                lambda s, k: (s, k) == (section, key))
            return {e for _, _, _, v in values
                    for e in re.split(r'[\s,]+', v) if e}

        extras = {key for _, _, key, _ in ini_values(
            os.path.join(ROOT, 'setup.cfg'), lambda s, k: s == 'extras')}
        self.assertEqual({'controller', 'api', 'simulator', 'cli', 'watcher'},
                         extras)
        # The README's commands and tox run every part.
        self.assertEqual(extras, extras_of('tox.ini', 'testenv', 'extras'))
        with open(os.path.join(ROOT, 'tools', 'setup-env.sh')) as f:
            setup_env = re.findall(r'\$\{ROOT\}\[([^\]]*)\]', f.read())
        self.assertEqual([extras], [set(e.split(',')) for e in setup_env])
        with open(os.path.join(ROOT, 'devstack', 'lib', 'cryptomine')) as f:
            devstack = re.findall(r'setup_develop "\$CRYPTOMINE_DIR" (\S+)',
                                  f.read())
        self.assertNotEqual([], devstack)
        for named in devstack:
            self.assertLessEqual(set(named.split(',')), extras)
