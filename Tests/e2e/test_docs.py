"""The documentation stays true to the binary and the tree: every YAML example validates, every
command example names a real subcommand and real flags, every path and link points at something
that exists.

YAML blocks are whole configurations unless the line before the fence marks them:

    <!-- fragment: top-level -->                  top-level sections, merged into a minimal configuration
    <!-- fragment: destination TYPE -->           keys of one destination of TYPE (filter, rules, config, ...)
    <!-- fragment: destination-config TYPE -->    keys of a destination's config: block (detail, data, ...)
    <!-- fragment: bus-rules -->                  a rules file for `switchyard emulate eventbridge --rules`

Every fragment is wrapped into a whole configuration and validated too (the bus rules by starting
the emulator on them)."""
import copy
import os
import re
import shlex
import shutil
import subprocess
import textwrap
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest
import requests
import yaml

from conftest import BINARY, ROOT, free_port

TIMEOUT = 60
DOCS = [ROOT / "README.md", ROOT / "BENCHMARKS.md"] + sorted((ROOT / "docs").glob("*.md"))
FENCE = re.compile(r"^(\s*)```([\w-]*)\s*$")
FRAGMENT = re.compile(r"^\s*<!--\s*fragment:\s*(.*?)\s*-->\s*$")  # alone on its line
SHELL_LANGUAGES = {"sh", "bash", "console", "shell"}
SWITCHYARD = {"switchyard", ".build/debug/switchyard", ".build/release/switchyard"}
# Repository paths named in the docs: they must exist.
REPO_PATH = re.compile(r"(?<![\w/.~-])((?:Sources|Destinations|Tests|Examples|Benchmarks|docs|\.ci)/[\w./-]*[\w/])")


@dataclass
class Block:
    file: Path
    line: int  # of the opening fence, 1-based
    language: str
    marker: str | None  # the fragment marker on the line before the fence
    text: str

    @property
    def where(self):
        return f"{self.file.relative_to(ROOT)}:{self.line}"


def read_blocks(path):
    """Every fenced block of a Markdown file, and the file's text outside them."""
    blocks, prose = [], []
    lines = path.read_text().splitlines()
    n = 0
    while n < len(lines):
        m = FENCE.match(lines[n])
        if not m:
            prose.append(lines[n])
            n += 1
            continue
        indent, language = m.group(1), m.group(2)
        before = lines[n - 1] if n > 0 else ""
        marker = FRAGMENT.search(before)
        body = []
        start = n
        n += 1
        while n < len(lines) and lines[n].strip() != "```":
            body.append(lines[n][len(indent):] if lines[n].startswith(indent) else lines[n])
            n += 1
        assert n < len(lines), f"{path.relative_to(ROOT)}:{start + 1}: fence never closed"
        n += 1
        blocks.append(Block(path, start + 1, language, marker.group(1) if marker else None, "\n".join(body) + "\n"))
        prose.append("")
    return blocks, "\n".join(prose)


ALL = {path: read_blocks(path) for path in DOCS}
BLOCKS = [b for blocks, _ in ALL.values() for b in blocks]
YAML_BLOCKS = [b for b in BLOCKS if b.language in ("yaml", "yml")]
SHELL_BLOCKS = [b for b in BLOCKS if b.language in SHELL_LANGUAGES]


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, **kwargs)


# --- the binary's commands and flags ------------------------------------------------------------

def _help_sections(text):
    sections, current = {}, None
    for line in text.splitlines():
        if re.match(r"^[A-Z][A-Z ]+:", line):
            current = line.split(":")[0]
            sections[current] = []
        elif current:
            sections[current].append(line)
    return {k: "\n".join(v) for k, v in sections.items()}


@lru_cache(maxsize=None)
def command_tree():
    """{("pattern", "test"): set of its --flags, ...}, read from every subcommand's --help."""
    assert BINARY.exists(), f"{BINARY} is missing: run `swift build` first"
    tree = {}

    def visit(path):
        out = run([str(BINARY), *path, "--help"])
        assert out.returncode == 0, f"switchyard {' '.join(path)} --help failed: {out.stderr}"
        sections = _help_sections(out.stdout)
        tree[path] = set(re.findall(r"(?<![\w-])(--[a-z0-9][a-z0-9-]*)", sections.get("OPTIONS", "")))
        for line in sections.get("SUBCOMMANDS", "").splitlines():
            m = re.match(r"^  ([a-z][a-z0-9-]*)(?: \(default\))?\s", line + " ")
            if m:
                visit(path + (m.group(1),))

    visit(())
    return tree


def resolve(words):
    """The longest subcommand path the words start with, and the words after it."""
    tree = command_tree()
    path = ()
    for word in words:
        if path + (word,) in tree:
            path += (word,)
        else:
            break
    return path, words[len(path):]


def test_the_binary_has_the_documented_subcommands():
    tree = command_tree()
    for path in [("serve",), ("validate",), ("transform",), ("pattern", "test"), ("tail",), ("deliveries",),
                 ("dead-letters", "list"), ("replay",), ("queue", "stats"), ("emulate", "eventbridge"), ("emulate", "kinesis"),
                 ("transformation", "test")]:
        assert path in tree, f"switchyard {' '.join(path)} is documented but not in --help"
    assert "--config" in tree[("validate",)] and "--print" in tree[("validate",)]


# --- YAML examples ------------------------------------------------------------------------------

BASE = {
    "server": {"host": "127.0.0.1", "port": 8080},
    "storage": {"path": ".switchyard"},
    "sources": [{"name": "docs-source", "writeKeys": ["docs-write-key"]}],
}
MINIMAL_DESTINATION = {
    "eventbridge": {"region": "us-east-1", "eventBusName": "docs", "detailType": "{{ event }}"},
    "kinesis": {"region": "us-east-1", "stream": "docs"},
}


def merged(base, extra):
    """`extra` laid over `base`: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def whole_config(block):
    """The configuration a YAML block stands for: itself, or the fragment wrapped into one."""
    data = yaml.safe_load(textwrap.dedent(block.text))
    assert isinstance(data, dict), f"{block.where}: not a YAML mapping"
    if block.marker is None:
        return None  # validated as written
    kind, _, argument = block.marker.partition(" ")
    if kind == "top-level":
        config = merged(BASE, data)
    elif kind in ("destination", "destination-config"):
        assert argument in MINIMAL_DESTINATION, f"{block.where}: fragment needs a destination type, not {argument!r}"
        destination = {"name": "docs-destination", "type": argument, "config": dict(MINIMAL_DESTINATION[argument])}
        destination = merged(destination, data if kind == "destination" else {"config": data})
        config = merged(BASE, {"destinations": [destination]})
    else:
        pytest.fail(f"{block.where}: unknown fragment kind {block.marker!r}")
    if config.get("destinations") and "connections" not in data:
        config["connections"] = [{"from": s["name"], "to": [d["name"] for d in config["destinations"]]} for s in config.get("sources", [])[:1]]
    return config


def environment_for(text):
    """Dummy values for every ${VAR} a block needs and does not default (secrets, say)."""
    env = dict(os.environ, LOG_LEVEL="error")
    for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text):
        env.setdefault(name, f"docs-dummy-{name.lower()}")
    return env


CONFIG_BLOCKS = [b for b in YAML_BLOCKS if b.marker is None or not b.marker.startswith("bus-rules")]
BUS_RULE_BLOCKS = [b for b in YAML_BLOCKS if b.marker is not None and b.marker.startswith("bus-rules")]


def test_docs_have_yaml_examples():
    assert len(CONFIG_BLOCKS) >= 8, [b.where for b in CONFIG_BLOCKS]
    assert any(b.marker is None for b in CONFIG_BLOCKS), "no whole configuration in the docs"


@pytest.mark.parametrize("block", CONFIG_BLOCKS, ids=lambda b: b.where)
def test_yaml_example_validates(block, tmp_path):
    config = whole_config(block)
    # The docs' `file: transformations/X.js` are the examples' files, beside the configuration.
    shutil.copytree(ROOT / "Examples" / "transformations", tmp_path / "transformations")
    path = tmp_path / "switchyard.yaml"
    path.write_text(block.text if config is None else yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    out = run([str(BINARY), "validate", "--config", str(path)], cwd=tmp_path, env=environment_for(block.text))
    assert out.returncode == 0, f"{block.where}: switchyard validate refused it ({block.marker or 'whole configuration'}):\n{out.stderr}\n{path.read_text()}"
    assert ": ok (" in out.stdout, out.stdout
    if config is not None:
        assert f"{len(config.get('destinations', []))} destinations" in out.stdout, out.stdout


@pytest.mark.parametrize("block", BUS_RULE_BLOCKS, ids=lambda b: b.where)
def test_bus_rules_example_starts_the_emulator(block, tmp_path):
    data = yaml.safe_load(block.text)
    assert isinstance(data, dict) and isinstance(data.get("rules"), list) and data["rules"], f"{block.where}: no rules"
    for rule in data["rules"]:
        target = rule.get("target", {})
        if "file" in target:
            (tmp_path / target["file"]).parent.mkdir(parents=True, exist_ok=True)
    rules = tmp_path / "bus-rules.yaml"
    rules.write_text(block.text)
    port = free_port()
    process = subprocess.Popen([str(BINARY), "emulate", "eventbridge", "--port", str(port), "--events-out", os.devnull,
                                "--rules", str(rules)], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        healthy = False
        while time.monotonic() < deadline and process.poll() is None:
            try:
                healthy = requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
            except requests.ConnectionError:
                pass
            if healthy:
                break
            time.sleep(0.1)
        assert healthy, f"{block.where}: the emulator did not start on these rules (exit {process.poll()}):\n{process.stdout.read() if process.poll() is not None else ''}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=TIMEOUT)


def test_fragment_markers_precede_yaml_blocks():
    """A marker before anything but a YAML block is a typo that would leave a fragment unchecked."""
    for path in DOCS:
        lines = path.read_text().splitlines()
        for n, line in enumerate(lines):
            if FRAGMENT.search(line):
                following = lines[n + 1] if n + 1 < len(lines) else ""
                assert re.match(r"^\s*```ya?ml\s*$", following), f"{path.relative_to(ROOT)}:{n + 1}: fragment marker not right before a ```yaml fence"


# --- command examples ---------------------------------------------------------------------------

def logical_lines(text):
    """Shell lines with backslash continuations joined."""
    out, current = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
        else:
            out.append(current + line)
            current = ""
    if current:
        out.append(current)
    return out


def switchyard_invocations(line):
    """The argument lists of every switchyard command in one shell line (pipes, &&, ( ) and & split it)."""
    line = re.sub(r"^\s*\$\s+", "", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError:
        return []
    commands, current = [], []
    for token in tokens + [";"]:
        if token and set(token) <= set("();<>|&"):
            if current:
                commands.append(current)
            current = []
        else:
            current.append(token)
    found = []
    for words in commands:
        while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
            words = words[1:]
        if words and words[0] in SWITCHYARD:
            found.append(words[1:])
    return found


COMMAND_EXAMPLES = [(b, args) for b in SHELL_BLOCKS for line in logical_lines(b.text) for args in switchyard_invocations(line)]


def test_docs_have_command_examples():
    assert len(COMMAND_EXAMPLES) >= 10, [(b.where, a) for b, a in COMMAND_EXAMPLES]


def check_command(where, words, flags):
    tree = command_tree()
    path, rest = resolve(words)
    if not path:
        assert not rest or rest[0].startswith("-"), f"{where}: `switchyard {' '.join(words)}`: no subcommand {rest[0]!r}"
        path = ("serve",)  # the default subcommand
    children = [p[-1] for p in tree if len(p) == len(path) + 1 and p[:len(path)] == path]
    assert not children, f"{where}: `switchyard {' '.join(words)}`: {' '.join(path)} needs a subcommand ({', '.join(children)})"
    unknown = [f for f in flags if f not in tree[path]]
    assert not unknown, f"{where}: `switchyard {' '.join(words)}`: {' '.join(path)} has no {', '.join(unknown)} (its flags: {sorted(tree[path])})"


@pytest.mark.parametrize("example", COMMAND_EXAMPLES, ids=lambda e: f"{e[0].where} {' '.join(e[1][:2])}" if isinstance(e, tuple) else str(e))
def test_command_example_uses_real_subcommand_and_flags(example):
    block, words = example
    flags = [w.split("=", 1)[0] for w in words if w.startswith("--")]
    check_command(block.where, words, flags)


def inline_commands():
    """`switchyard …` in the prose's code spans (tables of commands, mostly)."""
    found = []
    for path, (_, prose) in ALL.items():
        for n, line in enumerate(prose.splitlines(), 1):
            for span in re.findall(r"`([^`]+)`", line):
                m = re.match(r"^(?:\.build/debug/)?switchyard ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)*)(.*)$", span)
                if m:
                    found.append((f"{path.relative_to(ROOT)}:{n}", span, m.group(1).split(), re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", span)))
    return found


INLINE_COMMANDS = inline_commands()


def test_docs_have_inline_commands():
    assert len(INLINE_COMMANDS) >= 10


@pytest.mark.parametrize("example", INLINE_COMMANDS, ids=lambda e: f"{e[0]} {e[1][:40]}")
def test_inline_command_uses_real_subcommand_and_flags(example):
    where, span, words, flags = example
    path, rest = resolve(words)
    assert path, f"{where}: `{span}`: no such subcommand {words[0]!r}"
    check_command(where, list(path), flags)


# --- paths and links ----------------------------------------------------------------------------

def named_paths():
    found = []
    for path, (blocks, prose) in ALL.items():
        texts = [re.findall(r"`([^`]+)`", prose)] + [[b.text] for b in blocks]
        for text in (t for group in texts for t in group):
            for name in REPO_PATH.findall(text):
                found.append((path.relative_to(ROOT), name))
    return sorted(set(found))


NAMED_PATHS = named_paths()


def test_docs_name_ci_scripts():
    assert any(name.startswith(".ci/") for _, name in NAMED_PATHS)


@pytest.mark.parametrize("named", NAMED_PATHS, ids=lambda n: f"{n[0]} {n[1]}")
def test_named_path_exists(named):
    doc, name = named
    target = ROOT / name
    assert target.exists(), f"{doc} names {name}, which does not exist"
    if name.startswith(".ci/") or name == "Benchmarks/run":
        assert os.access(target, os.X_OK), f"{doc} names {name}, which is not executable"


def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"`", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


@lru_cache(maxsize=None)
def anchors(path):
    if path not in ALL:
        ALL[path] = read_blocks(path)
    seen, out = {}, set()
    for line in ALL[path][1].splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            base = slug(m.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.add(base if count == 0 else f"{base}-{count}")
    return out


def links():
    found = []
    for path, (_, prose) in ALL.items():
        text = re.sub(r"`[^`]*`", "", prose)
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
            if not re.match(r"^[a-z]+:", target):
                found.append((path, target))
    return found


LINKS = links()


def test_docs_link_to_each_other():
    assert len(LINKS) >= 20
    index = (ROOT / "docs" / "README.md").read_text()
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "README.md":
            assert f"({page.name})" in index, f"docs/README.md does not link to {page.name}"
    readme = (ROOT / "README.md").read_text()
    assert "(docs/README.md)" in readme, "README.md does not link to the docs index"


@pytest.mark.parametrize("link", LINKS, ids=lambda l: f"{l[0].relative_to(ROOT)} {l[1]}")
def test_relative_link_resolves(link):
    source, target = link
    file_part, _, anchor = target.partition("#")
    resolved = (source.parent / file_part).resolve() if file_part else source
    assert resolved.exists(), f"{source.relative_to(ROOT)} links to {target}, which does not exist"
    if anchor and resolved.suffix == ".md":
        assert anchor in anchors(resolved), f"{source.relative_to(ROOT)} links to {target}: no heading with that anchor ({sorted(anchors(resolved))})"


# --- the front page and the wording -------------------------------------------------------------

def test_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"
    text = "\n".join(lines)
    assert ".ci/install" in text and ".ci/test" in text


def test_docs_name_systems_and_carry_no_issue_numbers():
    for path in DOCS:
        text = path.read_text()
        assert not re.search(r"\bthe anchor", text, re.I), f"{path.relative_to(ROOT)} says 'the anchor': name the system"
        assert not re.search(r"\bissue \d+", text, re.I), f"{path.relative_to(ROOT)} cites an issue number"
