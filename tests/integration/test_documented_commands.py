"""Every command of README.md, docs/runbook.md and docs/deployment.md is a test.

The harness reads the documents' ```sh blocks, never their prose (sections get renamed and
tables rewritten; a code block is what a reader copies), and splits each block into the
commands a reader would paste one by one.

Checked statically, for every document (fast):

- `bash -n` on every block;
- every program a command starts is classified: run here, or "stand-in" (what needs a real
  systemd, a git remote, the running services, the whole test suite or a benchmark's
  minutes): such a segment of a command is replaced by `true` when the document runs, after
  these checks; a program the harness does not know fails the test, so a new kind of command
  gets a decision;
- every `mellanrum` and `dagster` subcommand and option a command names exists (the Click
  definitions, as `--help` shows them), and every file of the repository it names exists, as
  does the unit of every `systemctl` it runs.

Run (slow), in order, each command in bash as written, the environment carried from one
command to the next as in a reader's shell:

- README.md from a scratch checkout (the repository's entries linked into a temporary
  folder, so what commands write stays there) with HOME a temporary folder: the demo, then the
  environment it states, then the command line;
- docs/runbook.md from the environment README's block states (the block that exports
  MELLANRUM_HOME), in its own scratch checkout, with the publication database on PostgreSQL
  (what production uses; its sqlite3 command reads the demo's SQLite file);
- docs/deployment.md on a PostgreSQL server of its own, as on a fresh machine (its own home
  and root), in a thread beside the other two, which it shares nothing with.

Substituted, and only this: the home (HOME), the paths the deployment names (/opt/mellanrum
is the scratch checkout; /etc, /var/lib, /srv beneath a temporary root), the database's host
and port (PGHOST, PGPORT, and 5432 in the environment files), the placeholders the documents
mark as the reader's own (a secret '...', a key id L1-..., a public key mellanrum-x25519:...,
from-your-secret-store), and the service user `mellanrum`, which the tests do not have (sudo
-u NAME runs as the tests' user with PGUSER=NAME, as peer authentication would map it; owner
options for `mellanrum` are dropped; systemd-run is a stand-in that applies the unit-style
EnvironmentFile=, working directory and umask, in systemd's clean environment). Typed input
(psql's \\password, read -rs) comes on standard input. Files the reader has (an extract to
pseudonymize, the sources and recipients files, the partners' deliveries) are given.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import click
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from core.contracts import CONTRACTS
from schemas.recipients import load_recipients
from schemas.sources import CONSENT_RECORD_COLUMNS
from testkit.homes import REFERENCE
from testkit.pgserver import start_server, stop_server

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = ("README.md", "docs/runbook.md", "docs/deployment.md")
VENV_BIN = Path(sys.executable).parent

# --- reading the documents ------------------------------------------------------------------

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # 1-based line of the block's first line of code
    text: str


@dataclass(frozen=True)
class Command:
    document: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {self.text}"


def sh_blocks(document: str, text: str) -> list[Block]:
    blocks = []
    for match in _FENCE.finditer(text):
        if match.group("info").strip() != "sh":
            continue
        indent = len(match.group("indent"))
        body = "\n".join(line[indent:] if line[:indent].strip() == "" else line
                         for line in match.group("body").splitlines())  # fmt: skip
        blocks.append(Block(document, text.count("\n", 0, match.start("body")) + 1, body))
    return blocks


def _complete(text: str) -> bool:
    stripped = text.rstrip()
    if stripped.endswith(("\\", "|", "&&", "||")):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # a quote still open: the command goes on on the next line
        return False
    return True


def commands(block: Block) -> list[Command]:
    """The block's commands as a reader pastes them: continuation lines and multi-line quotes
    joined; comment lines and blank lines between commands dropped."""
    found, current, start = [], [], 0
    for number, line in enumerate(block.text.splitlines()):
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if not current:
            start = block.line + number
        current.append(line)
        if _complete("\n".join(current)):
            found.append(Command(block.document, start, "\n".join(current)))
            current = []
    assert not current, f"{block.document}:{start}: a command that never ends: {current}"
    return found


def segments(text: str) -> list[tuple[int, int]]:
    """Spans of the simple commands of `text`, split at |, ||, &&, ; and newlines outside
    quotes (a continuation line is part of its command)."""
    spans, start, i, quote = [], 0, 0, None
    while i < len(text):
        char = text[i]
        if quote:
            if char == "\\" and quote == '"':
                i += 2
                continue
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "\\":
            i += 2
            continue
        elif char == "#" and (i == 0 or text[i - 1] in " \t\n"):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        elif text.startswith(("&&", "||"), i) or char in "|;\n":
            spans.append((start, i))
            i += 2 if text.startswith(("&&", "||"), i) else 1
            start = i
            continue
        i += 1
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if shlex.split(text[a:b], comments=True)]


@dataclass
class Simple:
    """One simple command: its span in the command text, environment assignments, sudo's
    user, and the program's words."""

    span: tuple[int, int]
    assignments: dict[str, str]
    sudo_user: str | None
    argv: list[str]
    sudo: bool = False


def parse_simple(text: str, span: tuple[int, int]) -> Simple:
    words = shlex.split(text[span[0]:span[1]], comments=True)
    assignments = {}
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        name, value = words.pop(0).split("=", 1)
        assignments[name] = value
    sudo, user = False, None
    if words and words[0] == "sudo":
        sudo = True
        words.pop(0)
        while words and words[0].startswith("-"):
            option = words.pop(0)
            if option == "-u":
                user = words.pop(0)
    return Simple(span, assignments, user, words, sudo)


# --- classification -------------------------------------------------------------------------

RUN_HERE = {
    "export", "read", "cd", ".", "source", "printf", "sqlite3", "psql", "install", "cp",
    "mellanrum", ".venv/bin/mellanrum", "deploy/bin/mellanrum-as-service", "/opt/mellanrum/deploy/bin/mellanrum-as-service",
    "./.ci/bootstrap", "dagster", ".venv/bin/python",
}  # fmt: skip
STAND_INS = {
    "useradd": "creates a system user",
    "git": "clones the release from its remote",
    "systemctl": "needs a running systemd (tests/integration/test_code_server.py starts the units' processes)",
    "curl": "needs the running services (tests/integration/test_code_server.py runs this reload)",
    "nginx": "a web server", "htpasswd": "nginx's password files", "certbot": "a certificate authority",
    "kubectl": "a Kubernetes cluster", "helm": "a Kubernetes cluster", "docker": "a Docker daemon",
    "systemd-creds": "a machine's credential store",
}  # fmt: skip


def stand_in_reason(simple: Simple) -> str | None:
    """Why a simple command is not run here (None: it runs). Raises for an unknown program."""
    argv = simple.argv
    program = argv[0]
    if program in STAND_INS:
        return STAND_INS[program]
    if program == ".venv/bin/python":
        if argv[1:3] == ["-m", "pytest"]:
            return "the whole test suite, which this test is part of"
        if len(argv) > 1 and argv[1].startswith("bench/"):
            return "a benchmark (minutes to hours)"
        return None
    if program == "./.ci/bootstrap":
        # The scratch checkout links the real .venv: a reinstall from there would point the
        # venv's scripts at the scratch folder. The test suite runs after bootstrap anyway.
        return "installs into the repository's own .venv (done before the tests start)"
    if program == "dagster" and argv[1:3] in (["api", "grpc"], ["code-server", "start"]):
        return "a server that runs until stopped (tests/integration/test_code_server.py runs the unit's)"
    if program in RUN_HERE:
        return None
    raise AssertionError(f"the harness does not know {program!r}: add it to RUN_HERE or STAND_INS")


# --- static checks: options, files, units ----------------------------------------------------


def _mellanrum_cli() -> click.Group:
    from orchestration.cli import cli

    return cli


def _dagster_cli() -> click.Group:
    from dagster._cli import cli

    return cli


def click_problems(group: click.Group, words: list[str], name: str) -> list[str]:
    """What in `words` (after the program) is not a subcommand or option of `group`."""
    command, path, i = group, [name], 0
    while i < len(words):
        word = words[i]
        if isinstance(command, click.Group) and not word.startswith("-"):
            sub = command.commands.get(word)
            if sub is None:
                return [f"`{' '.join(path)}` has no command {word!r}"]
            command, path = sub, [*path, word]
            i += 1
            continue
        if word == "--":
            break
        if word.startswith("-"):
            option = word.split("=", 1)[0]
            params = {opt: p for p in command.params for opt in [*p.opts, *p.secondary_opts]}
            params.update({opt: None for opt in command.get_help_option_names(click.Context(command))})
            if option not in params:
                if command.context_settings.get("ignore_unknown_options"):
                    break
                return [f"`{' '.join(path)}` has no option {option}"]
            parameter = params[option]
            takes_value = parameter is not None and not getattr(parameter, "is_flag", False) and parameter.nargs != 0
            i += 2 if takes_value and "=" not in word else 1
            continue
        i += 1  # an argument
    return []


_REPOSITORY_PATH = re.compile(r"^(\./)?(deploy|bench|\.ci|docs|schemas|tests|orchestration|core|assets)/\S*$")


def static_problems(command: Command) -> list[str]:
    problems = []
    text = command.text
    for span in segments(text):
        simple = parse_simple(text, span)
        if not simple.argv:
            continue
        try:
            stand_in_reason(simple)
        except AssertionError as unknown:
            problems.append(f"{command}: {unknown}")
            continue
        argv = simple.argv
        program = argv[0]
        if program.endswith("mellanrum-as-service"):
            argv = ["mellanrum", *argv[1:]]
            program = "mellanrum"
        if program.endswith("mellanrum"):
            problems += [f"{command}: {p}" for p in click_problems(_mellanrum_cli(), argv[1:], "mellanrum")]
        elif program == "dagster":
            problems += [f"{command}: {p}" for p in click_problems(_dagster_cli(), argv[1:], "dagster")]
        elif program == "systemctl" and argv[1:2] and argv[1] in ("enable", "start", "restart", "stop", "disable"):
            for unit in (w for w in argv[2:] if not w.startswith("-")):
                if not (ROOT / "deploy" / "systemd" / f"{unit}.service").exists():
                    problems.append(f"{command}: no unit deploy/systemd/{unit}.service")
        for word in argv:
            candidate = word.replace("/opt/mellanrum/", "")
            if _REPOSITORY_PATH.match(candidate) and not list(ROOT.glob(candidate.removeprefix("./"))):
                problems.append(f"{command}: no file {candidate} in the repository")
    return problems


def check_document(document: str, text: str) -> list[str]:
    """Every static problem of one document's sh blocks (empty: all good)."""
    problems = []
    for block in sh_blocks(document, text):
        syntax = subprocess.run(["bash", "-n"], input=block.text, capture_output=True, text=True)
        if syntax.returncode != 0:
            problems.append(f"{block.document}:{block.line}: bash -n: {syntax.stderr.strip()}")
            continue
        for command in commands(block):
            problems += static_problems(command)
    return problems


def read(document: str) -> str:
    return (ROOT / document).read_text(encoding="utf-8")


# --- running a document ---------------------------------------------------------------------

PASSWORDS = {  # the roles' passwords, as typed at \password and written into the environment files
    "dagster": "the instance role's password",
    "mellanrum_publisher": "the publisher's pass:word \\ with specials",
    "mellanrum_kommun_1480": "Göteborg reads its rows",
}
SECRETS = {  # placeholders '...' / from-your-secret-store, by the variable that holds them
    "MELLANRUM_KEYRING_PASSPHRASE": "the operator's keyring passphrase",
    "MELLANRUM_PACKAGE_PASSPHRASE": "agreed with the partner by phone",
    "MELLANRUM_RECIPIENT_PASSPHRASE": "the recipient's own passphrase",
    "DAGSTER_PG_PASSWORD": PASSWORDS["dagster"],
}

PREAMBLE = r"""
sudo() {  # stand-in: the tests' own user; -u NAME becomes libpq's default user, as peer authentication maps it
    local user=""
    while [ $# -gt 0 ]; do
        case "$1" in -u) user="$2"; shift 2 ;; -*) echo "sudo stand-in: unsupported option $1" >&2; return 2 ;; *) break ;; esac
    done
    if [ -n "$user" ]; then PGUSER="$user" "$@"; else "$@"; fi
}
install() {  # the service user `mellanrum` does not exist here: its files stay the tests' own
    local args=()
    while [ $# -gt 0 ]; do
        case "$1" in -o|-g) if [ "$2" = mellanrum ]; then shift 2; continue; fi ;; esac
        args+=("$1"); shift
    done
    command install "${args[@]}"
}
"""

SYSTEMD_RUN = r'''#!{python}
"""systemd-run stand-in (tests/integration/test_documented_commands.py): the options
deploy/bin/mellanrum-as-service uses, applied as systemd would, in systemd's clean environment."""
import json, os, re, sys
PATHS = json.loads({paths!r})
def sub(text):
    for raw, local in PATHS.items():
        text = re.sub(r"(?<![\w.-])" + re.escape(raw), local, text)
    return text
args, env_files, cwd, umask, i = sys.argv[1:], [], "/", None, 0
while i < len(args) and args[i].startswith("-"):
    a = args[i]
    if a in ("--quiet", "--wait", "--collect", "--pipe", "-q", "-W", "-G", "-P"):
        pass
    elif a.startswith(("--uid=", "--gid=")):
        pass  # the service user: the tests' own
    elif a.startswith("--working-directory="):
        cwd = sub(a.split("=", 1)[1])
    elif a.startswith("--property="):
        key, value = a.split("=", 1)[1].split("=", 1)
        if key == "EnvironmentFile":
            env_files.append(sub(value))
        elif key == "UMask":
            umask = int(value, 8)
        else:
            sys.exit(f"systemd-run stand-in: unsupported property {{key}}")
    else:
        sys.exit(f"systemd-run stand-in: unsupported option {{a}}")
    i += 1
command = [sub(word) for word in args[i:]]
env = {{"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "USER": "mellanrum",
        "HOME": sub("/var/lib/mellanrum")}}
for path in env_files:
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[key.strip()] = value
if umask is not None:
    os.umask(umask)
os.chdir(cwd)
os.execve(command[0], command, env)
'''


@dataclass
class Session:
    """A reader's shell across documents: environment, outputs, and where things are."""

    home: Path
    root: Path  # the deployment's /etc, /var/lib, /srv
    bin: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)
    snapshots: dict[str, dict[str, str]] = field(default_factory=dict)
    ran: list[tuple[Command, float, str]] = field(default_factory=list)

    @property
    def paths(self) -> dict[str, str]:
        return {"/etc/mellanrum": f"{self.root}/etc/mellanrum", "/etc/systemd/system": f"{self.root}/etc/systemd/system",
                "/var/lib/mellanrum": f"{self.root}/var/lib/mellanrum", "/srv/mellanrum": f"{self.root}/srv/mellanrum"}  # fmt: skip

    def substituted_paths(self, text: str, checkout: Path) -> str:
        text = re.sub(r"(?<![\w.-])/opt/mellanrum", str(checkout), text)
        for raw, local in self.paths.items():
            text = re.sub(r"(?<![\w.-])" + re.escape(raw), local, text)
        return text

    # placeholders the documents mark as the reader's own
    def filled(self, text: str) -> str:
        def secret(match: re.Match) -> str:
            name = match.group(1)
            if name == "MELLANRUM_KEYRING_PASSPHRASE" and self.env.get(name):
                value = self.env[name]  # "your secret": the keyring in use has it already
            else:
                value = SECRETS[name]
            return f"{name}={shlex.quote(value)}"

        text = re.sub(r"\b([A-Z_]+)='\.\.\.'", secret, text)
        if "L1-..." in text:
            text = text.replace("L1-...", self.newest_linkage_key())
        if "mellanrum-x25519:..." in text:
            printed = re.findall(r"mellanrum-x25519:[A-Za-z0-9_-]{43}", "\n".join(self.outputs))
            assert printed, "mellanrum-x25519:... before any public key was printed"
            text = text.replace("mellanrum-x25519:...", printed[-1])
        leftover = re.findall(r"'\.\.\.'|\b\w+-\.\.\.|<\w+>", text)
        assert not leftover, f"a placeholder the harness cannot fill: {leftover}"
        return text

    def newest_linkage_key(self) -> str:
        from core.keys.keyring import Keyring

        home = Path(self.env.get("MELLANRUM_HOME") or self.home / ".mellanrum")
        path = Path(self.env.get("MELLANRUM_KEYRING") or home / "keyring.json")
        keys = [k for k in Keyring.load(path, self.env["MELLANRUM_KEYRING_PASSPHRASE"]).keys if k.role == "linkage"]
        return max(keys, key=lambda k: (k.valid_from, k.created)).id

    def typed(self, text: str) -> str:
        """What the reader types at the command's prompts."""
        typed = ""
        for role in re.findall(r"\\password (\w+)", text):
            typed += f"{PASSWORDS[role]}\n{PASSWORDS[role]}\n"
        for name in re.findall(r"\bread -rs (\w+)", text):
            typed += SECRETS[name] + "\n"
        return typed

    def run(self, command: Command, checkout: Path, cwd: Path) -> tuple[Path, subprocess.CompletedProcess]:
        """Run one command as written (stand-ins replaced by `true`) in `cwd`; the new cwd."""
        text = command.text
        for start, end in reversed(segments(text)):
            simple = parse_simple(text, (start, end))
            if simple.argv and stand_in_reason(simple) is not None:
                text = text[:start] + " true " + text[end:]
        text = self.filled(self.substituted_paths(text, checkout))
        state = self.bin.parent / "state"
        script = (f"{PREAMBLE}\ncd {shlex.quote(str(cwd))} || exit 97\n{text}\n"
                  f'__rc=$?; env -0 > {state}.env; pwd > {state}.cwd; exit $__rc\n')  # fmt: skip
        began = time.monotonic()
        done = subprocess.run(["bash", "-c", script], env=self.env, input=self.typed(text), capture_output=True,
                              text=True, timeout=600, start_new_session=True)  # fmt: skip
        self.ran.append((command, time.monotonic() - began, text))
        self.outputs.append(done.stdout)
        assert done.returncode == 0, (f"{command}\nexit {done.returncode}\n--- stdout ---\n{done.stdout[-3000:]}"
                                      f"\n--- stderr ---\n{done.stderr[-3000:]}")  # fmt: skip
        raw = (state.with_suffix(".env")).read_bytes().decode()
        self.env = dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)
        return Path(state.with_suffix(".cwd").read_text().strip()), done


def scratch_checkout(parent: Path) -> Path:
    """The repository's entries linked into a fresh folder: commands find every file, and
    what they write stays here."""
    checkout = parent / "checkout"
    checkout.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in (".git",):
            (checkout / entry.name).symlink_to(entry)
    return checkout


def write_extract(folder: Path) -> None:
    """The partner's extract the documents pseudonymize: Skatteverket test numbers only."""
    numbers = json.loads((REFERENCE / "skatteverket_testpersonnummer.json").read_text(encoding="utf-8"))[:20]
    pd.DataFrame({"Personnummer": numbers, "Insats": ["AT"] * len(numbers)}).to_csv(folder / "extract.csv", index=False)


def new_session(tmp: Path) -> Session:
    home, root, bin_dir = tmp / "home", tmp / "root", tmp / "bin"
    for folder in (home, bin_dir, root / "etc" / "systemd" / "system", root / "var" / "lib", root / "srv"):
        folder.mkdir(parents=True)
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(home), "LANG": "C.UTF-8", "TZ": "UTC"}
    for name in ("TMPDIR",):
        if name in os.environ:
            env[name] = os.environ[name]
    return Session(home, root, bin_dir, env)


# --- the tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_command_is_classified_names_existing_options_and_files(document):
    blocks = sh_blocks(document, read(document))
    assert blocks, f"{document} has no sh block"
    assert check_document(document, read(document)) == []


def test_a_renamed_option_in_a_document_fails_the_harness():
    """What a command that changed in the code and not in the docs looks like to the suite."""
    text = read("docs/runbook.md")
    assert "--as-of" in text and check_document("docs/runbook.md", text) == []
    problems = check_document("docs/runbook.md", text.replace("--as-of", "--asof"))
    assert problems and all("has no option --asof" in p for p in problems), problems
    assert any("mellanrum reconcile" in p for p in problems)
    # A renamed subcommand or a file that moved fail the same way.
    assert any("has no command 'psql2'" in p for p in
               check_document("docs/runbook.md", text.replace("db psql", "db psql2")))  # fmt: skip
    assert any("no file deploy/sql/publication.sql in the repository" in p for p in check_document(
        "docs/deployment.md", read("docs/deployment.md").replace("publication-database.sql", "publication.sql")))


def test_an_unknown_program_is_refused_until_it_is_classified():
    problems = check_document("x.md", "```sh\nfrobnicate --all\n```\n")
    assert problems and "does not know 'frobnicate'" in problems[0]


def test_the_harness_splits_blocks_into_the_commands_a_reader_pastes():
    block = Block("x.md", 1, textwrap.dedent("""\
        # a comment
        sqlite3 "$HOME/x.sqlite" \\
          "SELECT a
             FROM b ORDER BY a"

        sudo -u postgres psql -c '\\password dagster' && MELLANRUM_X='...' mellanrum keys list  # note
        """))
    found = commands(block)
    assert [c.line for c in found] == [2, 6]
    assert found[0].text.endswith('ORDER BY a"')
    parts = [parse_simple(found[1].text, span) for span in segments(found[1].text)]
    assert [p.argv[0] for p in parts] == ["psql", "mellanrum"]
    assert parts[0].sudo_user == "postgres" and parts[1].assignments == {"MELLANRUM_X": "..."}


# --- the runs -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return new_session(tmp_path_factory.mktemp("documents"))


@pytest.fixture(scope="module")
def readme(session, tmp_path_factory, deployment_run):
    workdir = tmp_path_factory.mktemp("readme")
    checkout = scratch_checkout(workdir)
    write_extract(checkout)
    run_document_in(session, "README.md", workdir, checkout)
    return checkout


def run_document_in(session: Session, document: str, workdir: Path, checkout: Path, after=None) -> None:
    stand_in = session.bin / "systemd-run"
    stand_in.write_text(SYSTEMD_RUN.format(python=sys.executable,
                                           paths=json.dumps({"/opt/mellanrum": str(checkout), **session.paths})))
    stand_in.chmod(0o755)
    cwd = checkout
    for block in sh_blocks(document, read(document)):
        for command in commands(block):
            cwd, _ = session.run(command, checkout, cwd)
            if after:
                after(command)
        if "MELLANRUM_HOME" in session.env and "environment" not in session.snapshots:
            session.snapshots["environment"] = dict(session.env)


@pytest.mark.slow
def test_readme_runs_as_written(session, readme):
    demo = session.home / ".mellanrum" / "demo"
    assert (demo / "published.sqlite").exists() and (demo / "inbox" / "recipients.yaml").exists()
    # The demo home, the environment it states, the key the operator registered and the export.
    assert session.snapshots["environment"]["MELLANRUM_HOME"] == str(demo)
    assert "public_key: mellanrum-x25519:" in (demo / "inbox" / "recipients.yaml").read_text(encoding="utf-8")
    assert (readme / "af_goteborg_city.zip").exists() and (readme / "extract.pseud.csv").exists()
    # The operator's own keyring and the partner's are not the demo's.
    assert (session.home / ".mellanrum" / "keyring.json").exists()
    assert (session.home / "partner" / "keyring.json").exists()
    checked = [out for (command, _, _), out in zip(session.ran, session.outputs) if "mellanrum checksum" in command.text]
    assert checked and "every checksum of af_goteborg_city matches" in checked[0]


@pytest.fixture(scope="module")
def runbook(session, readme, postgres_server, tmp_path_factory):
    """The runbook on the demo's home with the publication database on PostgreSQL, as a
    publisher role with a password (so `mellanrum db psql` has one to keep off its command line)."""
    postgres_server.create_role("runbook_publisher", PASSWORDS["mellanrum_publisher"])
    url = postgres_server.create_database("runbook", owner="runbook_publisher")
    with postgres_server.connect() as connection, connection.cursor() as cursor:
        cursor.execute("ALTER ROLE runbook_publisher CREATEROLE")
    url = postgres_server.url_for("runbook_publisher", PASSWORDS["mellanrum_publisher"], "runbook")
    saved = session.env
    session.env = {**session.snapshots["environment"], "MELLANRUM_DATABASE_URL": url}
    workdir = tmp_path_factory.mktemp("runbook")
    checkout = scratch_checkout(workdir)
    write_extract(checkout)
    first = len(session.ran)
    run_document_in(session, "docs/runbook.md", workdir, checkout)
    yield {"url": url, "ran": session.ran[first:], "outputs": session.outputs[first:], "checkout": checkout}
    session.env = saved


@pytest.mark.slow
def test_the_runbook_runs_as_written_on_postgresql(runbook):
    outputs = dict(zip((c.text for c, _, _ in runbook["ran"]), runbook["outputs"]))
    (psql_output,) = [out for text, out in outputs.items() if text.startswith("mellanrum db psql")]
    assert "published_at" in psql_output and "kommun_samplanering" in psql_output
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00", psql_output)  # a moment, in UTC
    (checksum_output,) = [out for text, out in outputs.items() if text.startswith("mellanrum checksum")]
    assert "every checksum of af_goteborg_city matches" in checksum_output
    assert PASSWORDS["mellanrum_publisher"] not in "\n".join(runbook["outputs"])
    assert (runbook["checkout"] / "af_goteborg_city.sealed").exists()


# --- deployment.md on a PostgreSQL server of its own ------------------------------------------


DEPLOYED_SOURCES = {"goteborg", "molndal", "kungsbacka", "partille", "af"}


def run_deployment(inbox: Path, folder: Path) -> dict:
    """deployment.md on a fresh machine: its own home, root, and PostgreSQL server (left
    running for the checks; the fixture stops it)."""
    session = new_session(folder / "machine")
    server = start_server()
    try:
        session.env.update(PGHOST=server.host, PGPORT=str(server.port))
        # What the reader has: the sources and recipients files they wrote (four municipalities
        # and AF, which keeps the run short), the partners' deliveries.
        sources = yaml.safe_load((inbox / "sources.yaml").read_text(encoding="utf-8"))
        sources["sources"] = [s for s in sources["sources"] if s["id"] in DEPLOYED_SOURCES]
        # Their consent as yes/no only: the documented `run` publishes as of today, and the
        # generated consent records' periods sit around the generated as-of date, so with them
        # what reaches samplanering would depend on the day the suite runs (tests of the
        # records themselves: test_gates_truth.py, tests/unit/test_gates.py).
        for source in sources["sources"]:
            source["columns"] = {theirs: ours for theirs, ours in source["columns"].items()
                                 if ours not in CONSENT_RECORD_COLUMNS}  # fmt: skip
            source["codes"].pop("consent_scope", None)
        (session.home / "sources.yaml").write_text(yaml.safe_dump(sources, allow_unicode=True, sort_keys=False),
                                                   encoding="utf-8")  # fmt: skip
        shutil.copy(inbox / "recipients.yaml", session.home / "recipients.yaml")
        delivered = session.root / "srv" / "mellanrum" / "inbox"
        for kind in ("kommun", "af"):
            shutil.copytree(inbox / kind, delivered / kind)
        workdir = folder / "work"
        workdir.mkdir()
        checkout = scratch_checkout(workdir)
        run_document_in(session, "docs/deployment.md", workdir, checkout,
                        after=lambda _command: fill_in_installed_files(session, server.port))  # fmt: skip
        return {"server": server, "session": session, "outputs": session.outputs}
    except BaseException:
        stop_server(server)
        raise


@pytest.fixture(scope="module")
def deployment_run(inbox, tmp_path_factory):
    """The deployment's run, in a thread of its own: it shares nothing with README's and the
    runbook's, so it runs beside them (README's fixture starts it first)."""
    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(run_deployment, inbox, tmp_path_factory.mktemp("deployment"))
    yield future
    try:
        stop_server(future.result()["server"])
    except BaseException:  # noqa: BLE001 (reported by the test that uses it)
        pass
    executor.shutdown()


@pytest.fixture(scope="module")
def deployment(deployment_run):
    return deployment_run.result(timeout=1200)


def fill_in_installed_files(session: Session, port: int) -> None:
    """"then fill in": the environment files and the instance's configuration the document
    installed, with the paths, the port and the secrets of this machine."""
    targets = [*(session.root / "etc" / "mellanrum").glob("*"), session.root / "var/lib/mellanrum/dagster/dagster.yaml"]
    for path in (p for p in targets if p.is_file()):
        text = path.read_text(encoding="utf-8")
        filled = session.substituted_paths(text, ROOT)
        filled = re.sub(r"\b5432\b", str(port), filled)
        lines = []
        for line in filled.splitlines():
            if "from-your-secret-store" in line:
                name = line.split("=", 1)[0]
                secret = PASSWORDS["mellanrum_publisher"] if name == "MELLANRUM_DATABASE_URL" else SECRETS[name]
                if name == "MELLANRUM_DATABASE_URL":
                    from urllib.parse import quote

                    secret = quote(secret, safe="")
                line = line.replace("from-your-secret-store", secret)
            lines.append(line)
        filled = "\n".join(lines) + "\n"
        if filled != text:
            path.write_text(filled, encoding="utf-8")


def reads_only_its_own_rows(server, recipient) -> bool:
    """As the recipient's role (a login given as the DBA would): every row of its kind's
    datasets that is its own, nothing else, and no other dataset or internal table."""
    password = PASSWORDS.get(recipient.role)
    if password is None:
        password = f"{recipient.id} reads its rows"
        with server.connect("mellanrum") as connection, connection.cursor() as cursor:
            cursor.execute(f'ALTER ROLE "{recipient.role}" LOGIN PASSWORD %s', (password,))
    role = sa.create_engine(server.url_for(recipient.role, password, "mellanrum"))
    owner = sa.create_engine(server.url_for("mellanrum_publisher", PASSWORDS["mellanrum_publisher"], "mellanrum"))
    try:
        with role.connect() as mine, owner.connect() as everything:
            for declared in CONTRACTS:
                table = f"published.{declared.name}"
                if recipient.kind not in declared.recipient_kinds:
                    try:
                        mine.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1"))
                        return False
                    except sa.exc.ProgrammingError:
                        mine.rollback()
                    continue
                seen = mine.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                if declared.recipient_column:
                    own = everything.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {declared.recipient_column} "
                                                     "= :scope"), {"scope": recipient.scope}).scalar_one()  # fmt: skip
                elif recipient.region_kommuner is not None:  # a scoped region: rows touching its municipalities
                    touching = " OR ".join(f"{c} = ANY(:kommuner)" for c in declared.kommun_columns)
                    own = everything.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {touching}"),
                                             {"kommuner": list(recipient.region_kommuner)}).scalar_one()  # fmt: skip
                elif recipient.kind in declared.also_to:  # a kommun reading an aggregate: rows naming its kommun
                    touching = " OR ".join(f"{c} = :scope" for c in declared.kommun_columns)
                    own = everything.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {touching}"),
                                             {"scope": recipient.kommunkod}).scalar_one()  # fmt: skip
                else:
                    own = everything.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
                if seen != own:
                    return False
            lines = mine.execute(sa.text("SELECT DISTINCT recipient FROM published.publication_log")).scalars().all()
            if lines != [recipient.id]:
                return False
            for table in ("internal.overlaps", "internal.municipal_quarantine"):
                try:
                    mine.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1"))
                    return False
                except sa.exc.ProgrammingError:
                    mine.rollback()
        return True
    finally:
        role.dispose()
        owner.dispose()


@pytest.mark.slow
def test_deployment_runs_as_written_roles_and_databases_a_publication_each_role_its_rows(deployment):
    server, session = deployment["server"], deployment["session"]
    root = session.root
    # Databases and roles as the SQL files made them; the publisher is no superuser, cannot create roles.
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT datname FROM pg_database WHERE datname IN ('dagster', 'mellanrum') ORDER BY 1")
        assert [r[0] for r in cursor.fetchall()] == ["dagster", "mellanrum"]
        cursor.execute("SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = 'mellanrum_publisher'")
        assert cursor.fetchone() == (False, False)
        cursor.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'mellanrum\\_%' ORDER BY 1")
        roles = [r[0] for r in cursor.fetchall()]
    assert "mellanrum_kommun_1480" in roles and "mellanrum_af_goteborg_city" in roles
    # The keyring where the environment files say, not in the service user's home.
    assert (root / "var/lib/mellanrum/home/keyring.json").exists()
    assert not (root / "var/lib/mellanrum/.mellanrum").exists()
    # The runs went to the instance on PostgreSQL, and a publication happened.
    publisher = sa.create_engine(server.url_for("mellanrum_publisher", PASSWORDS["mellanrum_publisher"], "mellanrum"))
    with publisher.connect() as connection:
        published = connection.execute(sa.text(
            "SELECT kommunkod, count(*) FROM published.kommun_samplanering GROUP BY 1")).all()  # fmt: skip
        log = connection.execute(sa.text("SELECT count(*) FROM published.publication_log")).scalar_one()
    publisher.dispose()
    counts = dict(published)
    assert counts.get("1480", 0) > 0 and sum(counts.values()) > counts["1480"] and log > 0
    # Göteborg's role, given a login as the document shows, reads only its rows and lines.
    goteborg = sa.create_engine(server.url_for("mellanrum_kommun_1480", PASSWORDS["mellanrum_kommun_1480"], "mellanrum"))
    with goteborg.connect() as connection:
        seen = connection.execute(sa.text("SELECT DISTINCT kommunkod FROM published.kommun_samplanering")).scalars().all()
        rows = connection.execute(sa.text("SELECT count(*) FROM published.kommun_samplanering")).scalar_one()
        lines = connection.execute(sa.text("SELECT DISTINCT recipient FROM published.publication_log")).scalars().all()
        with pytest.raises(sa.exc.ProgrammingError):
            connection.execute(sa.text("SELECT 1 FROM published.af_samplanering"))
    goteborg.dispose()
    assert seen == ["1480"] and rows == counts["1480"] and lines == ["kommun_1480"]
    # And every other recipient's role, given a login the same way: its kind's datasets, its own rows.
    for recipient in load_recipients(session.home / "recipients.yaml").all:
        assert reads_only_its_own_rows(server, recipient), recipient.id
    outputs = "\n".join(deployment["outputs"])
    assert "the publication database is ready for 'mellanrum_publisher'" in outputs
    assert "every checksum of af_goteborg_city matches" in outputs
    for secret in (*PASSWORDS.values(), *SECRETS.values()):
        assert secret not in outputs
