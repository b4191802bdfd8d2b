"""How well the chat checks find personal details and bad language in children's messages, and how
fast they are, against baselines in the same run.

    .venv/bin/python bench/chat_checks.py [--rounds 30] [--write] [--compare-libraries]

What it does, all in this process:

1. Reads the labelled messages in `bench/data/`, one JSON object a line: `text`, `labels` (the
   kinds a careful reader finds in it; empty for a clean message) and `tricky` (a clean message
   built to look like a finding: a sum, a time, "@ home", "Scunthorpe"). Two sets, reported apart:
   - `chat_messages.jsonl`: written first, then the checker was built and tuned against it;
   - `chat_messages_holdout.jsonl`: written after the checker, with new phrasings, and run once
     unseen (its first-run figures are in docs/benchmarks.md); the checker was then improved in
     general ways, so its figures here are no longer unseen either.
2. Runs `check_chat` on every message and counts, message by message: precision and recall for
   each kind; recall for personal information as the policy sees it (a message holding any of the
   six personal kinds, found as any of them: the target is at least 0.95); the false-positive rate
   (the share of clean messages the check would stop or report: the target is at most 2%), on all
   clean messages and on the tricky ones.
3. A baseline for quality: one plain regular expression of the kind a first attempt uses (long
   digit runs, an @, http or www, ".com"), scored the same way for personal information.
4. Speed: messages a second through `check_chat` over the whole set, the median of `--rounds`
   passes, with two baselines timed in the same passes over the same messages: `str.lower` (the
   least any check does) and the plain regular expression. Then the slowest single message of the
   sets, and the slowest of a few 500-character messages built to make a checker work hard.
5. With `--compare-libraries`, the same scores and speed for two profanity libraries on PyPI that
   were considered instead of the reviewed word list (better-profanity 0.7.0, glin-profanity 4.1.0
   and glin's PII scanner). They are not SafeClass dependencies: install them somewhere else and
   put that on the path, e.g.
       .venv/bin/pip install --target /tmp/proflibs better-profanity==0.7.0 glin-profanity==4.1.0
       PYTHONPATH=/tmp/proflibs .venv/bin/python bench/chat_checks.py --compare-libraries

The Markdown goes to stdout. `--write` replaces this benchmark's section of `docs/benchmarks.md`
(between its `<!-- bench/chat_checks.py: ... -->` markers), or appends it at the end of the file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import results as bench_results
from safeclass.domain.chat_checks import ChatCheckKind, chat_checker

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data"
SETS = {
    "main": DATA / "chat_messages.jsonl",
    "held out": DATA / "chat_messages_holdout.jsonl",
}
RESULTS = bench_results.RESULTS

PERSONAL = frozenset(kind for kind in ChatCheckKind if kind.personal)
RECALL_TARGET = 0.95
FALSE_POSITIVE_TARGET = 0.02

# A first attempt: long runs of digits, an @, a web address.
NAIVE = re.compile(r"\d{5,}|\d{3,}[ -]\d{3,}|@|https?://|www\.|\.com\b", re.IGNORECASE)

# Messages of the longest length allowed (500 characters) built to make a checker backtrack or
# loop: long runs of what each check looks for.
_HARD = {
    "digits one by one": "0 " * 250,
    "sevens one by one": "7 " * 250,
    "o for zero, one by one": "o " * 250,
    "spaced letters": "a " * 250,
    "dots between letters": "a.a " * 125,
    "handles": "@a " * 170,
    "'at' and 'dot'": "at dot " * 72,
    "numbered streets": "12 a b road " * 42,
    "a long real message": "my number is 07700 900123 and i live at 12 acacia avenue lol " * 9,
}
HARD_INPUTS = {name: text[:500] for name, text in _HARD.items()}


class BenchError(Exception):
    pass


@dataclass(frozen=True)
class Message:
    text: str
    labels: frozenset[str]
    tricky: bool


@dataclass(frozen=True)
class Score:
    labelled: int
    true_positives: int
    false_positives: int

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.labelled if self.labelled else 1.0


def load(path: Path) -> list[Message]:
    messages = []
    known = {kind.value for kind in ChatCheckKind}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        row = json.loads(line)
        labels = frozenset(row["labels"])
        if not labels <= known:
            raise BenchError(f"{path}:{number}: unknown labels {sorted(labels - known)}")
        if row["tricky"] and labels:
            raise BenchError(f"{path}:{number}: a tricky message is a clean one")
        messages.append(Message(row["text"], labels, bool(row["tricky"])))
    return messages


Detector = Callable[[str], set[str]]


def safeclass_detector() -> Detector:
    checker = chat_checker(())
    return lambda text: {finding.kind.value for finding in checker.check(text)}


def naive_detector(text: str) -> set[str]:
    return {"personal"} if NAIVE.search(text) else set()


def score(messages: Sequence[Message], detect: Detector, kind: str | frozenset[str]) -> Score:
    """Message-level counts for one kind, or for any kind of a group counted as one."""
    group = frozenset({kind}) if isinstance(kind, str) else kind
    labelled = true_positives = false_positives = 0
    for message in messages:
        expected = bool(message.labels & group)
        found = bool(detect(message.text) & group)
        labelled += expected
        true_positives += expected and found
        false_positives += found and not expected
    return Score(labelled, true_positives, false_positives)


def as_personal(messages: Sequence[Message]) -> list[Message]:
    """Each message labelled "personal" when it holds any personal kind; messages holding only
    bad language left out. For checkers that say "personal" without saying which kind."""
    personal = frozenset(kind.value for kind in PERSONAL)
    return [
        Message(m.text, frozenset({"personal"}) if m.labels & personal else frozenset(), m.tricky)
        for m in messages
        if not m.labels or m.labels & personal
    ]


def false_positive_rate(messages: Sequence[Message], detect: Detector) -> tuple[int, int]:
    """Clean messages with any finding, and the number of clean messages."""
    clean = [m for m in messages if not m.labels]
    return sum(1 for m in clean if detect(m.text)), len(clean)


def quality_tables(name: str, messages: Sequence[Message], detect: Detector) -> str:
    personal = frozenset(kind.value for kind in PERSONAL)
    rows = [
        f"**{name} set** ({len(messages)} messages: {sum(1 for m in messages if m.labels)} with "
        f"something to find, {sum(1 for m in messages if not m.labels)} clean, of which "
        f"{sum(1 for m in messages if m.tricky)} tricky)",
        "",
        "| Kind | messages | found | missed | wrongly found | precision | recall |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for kind in ChatCheckKind:
        s = score(messages, detect, kind.value)
        rows.append(
            f"| {kind.value} | {s.labelled} | {s.true_positives} | "
            f"{s.labelled - s.true_positives} | {s.false_positives} | {s.precision:.3f} | "
            f"{s.recall:.3f} |"
        )
    s = score(messages, detect, personal)
    rows.append(
        f"| **personal information (any of the six)** | {s.labelled} | {s.true_positives} | "
        f"{s.labelled - s.true_positives} | {s.false_positives} | {s.precision:.3f} | "
        f"**{s.recall:.3f}** |"
    )
    wrong, clean = false_positive_rate(messages, detect)
    tricky = [m for m in messages if m.tricky]
    wrong_tricky, _ = false_positive_rate(tricky, detect)
    rows += [
        "",
        f"False positives: {wrong} of {clean} clean messages ({wrong / clean:.1%}); "
        f"{wrong_tricky} of {len(tricky)} tricky ones ({wrong_tricky / len(tricky):.1%}).",
        "",
    ]
    return "\n".join(rows)


def targets(messages: Sequence[Message], detect: Detector) -> tuple[float, float, bool]:
    recall = score(messages, detect, frozenset(k.value for k in PERSONAL)).recall
    wrong, clean = false_positive_rate(messages, detect)
    rate = wrong / clean
    return recall, rate, recall >= RECALL_TARGET and rate <= FALSE_POSITIVE_TARGET


def timed(
    texts: Sequence[str], rounds: int, runs: Mapping[str, Callable[[str], object]]
) -> dict[str, float]:
    """Messages a second for each run, the median of `rounds` passes, the runs interleaved so
    that a noisy moment on the machine hits them all."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            for text in texts:
                run(text)
            rates[name].append(len(texts) / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def slowest(
    texts: Sequence[str], run: Callable[[str], object], repeat: int = 5
) -> list[tuple[float, str]]:
    """Each text's best time of `repeat` tries, slowest first."""
    times = []
    for text in texts:
        best = min(_once(run, text) for _ in range(repeat))
        times.append((best, text))
    return sorted(times, reverse=True)


def _once(run: Callable[[str], object], text: str) -> float:
    start = time.perf_counter()
    run(text)
    return time.perf_counter() - start


def speed_tables(texts: Sequence[str], rounds: int) -> str:
    checker = chat_checker(())
    rates = timed(
        texts,
        rounds,
        {
            "check_chat (all seven checks)": checker.check,
            "baseline: str.lower": str.lower,
            "baseline: one plain regular expression": NAIVE.search,
        },
    )
    ours = rates["check_chat (all seven checks)"]
    rows = [
        f"Speed over the {len(texts)} messages of both sets (mean "
        f"{statistics.mean(map(len, texts)):.0f} characters), median of {rounds} passes, one core:",
        "",
        "| Run | messages/s | µs a message | check_chat takes |",
        "|---|---:|---:|---:|",
    ]
    for name, rate in rates.items():
        ratio = "-" if rate == ours else f"{rate / ours:.0f}x as long"
        rows.append(f"| {name} | {rate:,.0f} | {1e6 / rate:.1f} | {ratio} |")
    worst = slowest(texts, checker.check)[:3]
    hard = slowest(list(HARD_INPUTS.values()), checker.check)
    names = {text: name for name, text in HARD_INPUTS.items()}
    rows += [
        "",
        "Slowest single messages (best of 5 tries each):",
        "",
        "| Message | characters | ms |",
        "|---|---:|---:|",
    ]
    for seconds, text in worst:
        rows.append(f"| from the sets: `{text}` | {len(text)} | {seconds * 1000:.3f} |")
    for seconds, text in hard[:3]:
        rows.append(f"| built to be hard: {names[text]} | {len(text)} | {seconds * 1000:.3f} |")
    # A connection may send 10 messages a second (docs/protocol.md): the most one client can
    # make the server spend on chat checks.
    rows += [
        "",
        f"At the protocol's limit of 10 messages a second per connection, a client sending only "
        f"the hardest of these costs the server {hard[0][0] * 10:.1%} of one core.",
    ]
    rows.append("")
    return "\n".join(rows)


def library_tables(messages: Sequence[Message], rounds: int) -> str:
    """better-profanity and glin-profanity on the same messages, for the profanity kind (and
    glin's PII scanner for personal information)."""
    try:
        import glin_profanity  # type: ignore[import-not-found]
        from better_profanity import profanity as better  # type: ignore[import-not-found]
    except ImportError as missing:
        raise BenchError(
            f"--compare-libraries needs better-profanity and glin-profanity on the path: {missing}"
        ) from None
    better.load_censor_words()
    glin = glin_profanity.Filter({"cache_results": False})
    pii = glin_profanity.PiiScanner()
    ours = safeclass_detector()
    detectors: dict[str, Detector] = {
        "SafeClass reviewed list (speed: all seven checks)": lambda t: {"profanity"} & ours(t),
        "better-profanity 0.7.0": lambda t: (
            {"profanity"} if better.contains_profanity(t) else set()
        ),
        "glin-profanity 4.1.0": lambda t: {"profanity"} if glin.is_profane(t) else set(),
    }
    rows = [
        "Profanity only, on both sets together: what each finds, and its clean messages wrongly "
        "reported.",
        "",
        "| Word list | precision | recall | clean messages wrongly reported | messages/s |",
        "|---|---:|---:|---:|---:|",
    ]
    texts = [m.text for m in messages]
    rates = timed(texts, max(3, rounds // 5), detectors)
    for name, detect in detectors.items():
        s = score(messages, detect, "profanity")
        clean = [m for m in messages if not m.labels]
        wrong = sum(1 for m in clean if detect(m.text))
        rows.append(
            f"| {name} | {s.precision:.3f} | {s.recall:.3f} | {wrong} of {len(clean)} | "
            f"{rates[name]:,.0f} |"
        )
    wrongly = [
        m.text for m in messages if not m.labels and detectors["glin-profanity 4.1.0"](m.text)
    ]
    wrongly_better = [
        m.text for m in messages if not m.labels and detectors["better-profanity 0.7.0"](m.text)
    ]
    rows += [
        "",
        "Clean messages better-profanity reports: "
        + ", ".join(f"`{t}`" for t in wrongly_better[:12]),
        "",
        "Clean messages glin-profanity reports: " + ", ".join(f"`{t}`" for t in wrongly[:12]),
        "",
    ]
    personal = frozenset(k.value for k in PERSONAL)

    def glin_pii(text: str) -> set[str]:
        return {"personal"} if pii.scan(text).matches else set()

    def ours_personal(text: str) -> set[str]:
        return {"personal"} if ours(text) & personal else set()

    grouped = as_personal(messages)
    rows += [
        "Personal information, on both sets together (messages holding only bad language left "
        "out):",
        "",
        "| Checker | precision | recall | clean messages wrongly reported |",
        "|---|---:|---:|---:|",
    ]
    for name, detect in (("SafeClass", ours_personal), ("glin-profanity PiiScanner", glin_pii)):
        s = score(grouped, detect, "personal")
        wrong, clean_count = false_positive_rate(grouped, detect)
        rows.append(f"| {name} | {s.precision:.3f} | {s.recall:.3f} | {wrong} of {clean_count} |")
    rows.append("")
    return "\n".join(rows)


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    return (
        f"{len(os.sched_getaffinity(0))} CPUs ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


SECTION_TITLE = """## Chat checks (`bench/chat_checks.py`)

How well the server's chat checks (`src/safeclass/domain/chat_checks.py`) find personal details
(phone numbers, email addresses, postcodes, street addresses, social-media accounts, links) and
bad language in children's messages, on labelled messages written for this in a child's voice;
how often they wrongly report a clean message; and how many messages a second they check.
Targets (issue 7): recall at least 0.95 on personal information, at most 2% false positives.
Counts are per message: a message counts as found for a kind when the check reports that kind
anywhere in it.
"""


NOTES = """How far to trust these figures. Both sets were written by the engineer who wrote the
checker, so they share one person's idea of how children write. The main set was written first and
the checker built against it: its figures show the checker does what it was built to do, not how it
does on messages nobody has seen. The held-out set was written after the checker, with new
phrasings, and run once before any change. That first run found 77 of 82 messages with personal
information (recall 0.939, below the 0.95 target), 17 of 18 with bad language, and no false
positives among 80 clean messages. The misses were a phone number written in pairs after a lone 0
("0 77 00 90 03 21"), three street addresses ("23 kingsway", "19 the green", "2 station approach"),
"whats ur insta mines millie_x" and "f off". The checker was then improved in general ways (a lone 0
then groups of one size; streets named in one word; "the" before a street word; more street words;
children's spellings between an app and a name; abbreviated swearing), and probed with about 150
more everyday messages, which found five false positives that were fixed in the same way (a number
line "0 10 20 30 40 50", "my snapchat is on my mums phone", "shitzu", "f u n", "tell.me"). So the
held-out figures above are no longer unseen either. Real chat will hold phrasings neither set has:
read the alerts staff get in the first weeks, and add what the checks miss to the sets.

Why a reviewed word list and not a library. Three Python libraries from PyPI were considered for bad
language (figures for two are in the last tables when run with `--compare-libraries`):
- better-profanity 0.7.0 (MIT, pure Python): last released in November 2020. Its list of about 900
  mostly American words reports lesson words ("heaven and hell", "we read dick whittington", "blue
  tits", "penis and vagina are body parts", "offa's dyke"), and it checks a few hundred messages a
  second here, about a hundred times slower than all seven SafeClass checks together.
- glin-profanity 4.1.0 (MIT, pure Python, released in 2026): its English list is built for adult
  content and reports correct anatomical words, which schools teach children to use (the NSPCC's
  PANTS rule), and misses some British swearing; its personal-information scanner is shaped for the
  US (it misses UK mobile numbers and reads "07700" as a ZIP code).
- alt-profanity-check 1.9.1 (MIT, maintained): a scikit-learn model trained on adult social-media
  text. It brings scikit-learn and with it SciPy, NumPy and joblib (large compiled packages) into a
  server that has none of them, answers with one probability per message rather than where the word
  is, and cannot take a school's own words. Not installed or measured here.

SafeClass ships a reviewed list in `src/safeclass/domain/chat_words.py` (124 words, stems and
phrases, 15 innocent phrases and 4 words it must not catch, and the lesson words it leaves out
written down) and takes a school's own words on top (`LessonRules.chat_extra_words`).
"""


def write_section(body: str) -> None:
    try:
        bench_results.write_section("chat_checks.py", SECTION_TITLE, body)
    except bench_results.SectionError as error:
        raise BenchError(str(error)) from error


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed passes (default 30)")
    parser.add_argument(
        "--write", action="store_true", help=f"update this benchmark's section of {RESULTS}"
    )
    parser.add_argument(
        "--compare-libraries",
        action="store_true",
        help="also score better-profanity and glin-profanity (installed elsewhere, on the path)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("needs at least 1 round")
    command = "  ".join(
        part
        for part in (
            "PYTHONPATH=/tmp/proflibs" if args.compare_libraries else "",
            f".venv/bin/python bench/chat_checks.py --rounds {args.rounds}"
            + (" --compare-libraries" if args.compare_libraries else ""),
        )
        if part
    ).replace("  ", " ")

    sets = {name: load(path) for name, path in SETS.items()}
    everything = [m for messages in sets.values() for m in messages]
    detect = safeclass_detector()
    body = [
        f"Command: `{command}`",
        "",
        f"Run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Machine: {machine()}.",
        "",
    ]
    summary = [
        "| Set | messages | personal information recall | false positives | targets met |",
        "|---|---:|---:|---:|---|",
    ]
    for name, messages in sets.items():
        recall, rate, met = targets(messages, detect)
        summary.append(
            f"| {name} | {len(messages)} | {recall:.3f} | {rate:.1%} | {'yes' if met else 'NO'} |"
        )
    naive = score(as_personal(everything), naive_detector, "personal").recall
    naive_wrong, naive_clean = false_positive_rate(everything, naive_detector)
    naive_rate = naive_wrong / naive_clean
    naive_met = naive >= RECALL_TARGET and naive_rate <= FALSE_POSITIVE_TARGET
    summary += [
        f"| baseline: one plain regular expression, both sets | {len(everything)} | {naive:.3f} | "
        f"{naive_rate:.1%} | {'yes' if naive_met else 'NO'} |",
        "",
    ]
    body += summary
    body += [quality_tables(name, messages, detect) for name, messages in sets.items()]
    body.append(speed_tables([m.text for m in everything], args.rounds))
    if args.compare_libraries:
        body.append(library_tables(everything, args.rounds))
    body.append(NOTES)
    text = "\n".join(body)
    print(text)
    if args.write:
        write_section(text)
        print(f"... wrote {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        sys.exit(f"bench/chat_checks.py: {error}")
