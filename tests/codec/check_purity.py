#!/usr/bin/python3
"""Fails if a pure part includes anything but C++ standard headers or its own pure headers, or
reads a clock, prints, or opens files.

Usage: check_purity.py DIR [--allow PREFIX]... [--chrono-types]
  mqttsn/:       check_purity.py mqttsn
  gateway/core/: check_purity.py gateway/core --allow gateway/core/ --chrono-types
--chrono-types allows <chrono> for durations and time points (time comes in as arguments);
reading a clock (::now()) stays forbidden. The pure parts are listed in docs/design.md.
"""
import pathlib
import re
import sys

# C++20 standard library headers (and the <c...> C wrappers).
STD = set("""
algorithm any array atomic barrier bit bitset charconv chrono codecvt compare complex concepts
condition_variable coroutine deque exception execution expected filesystem format forward_list
fstream functional future initializer_list iomanip ios iosfwd iostream istream iterator latch
limits list locale map memory memory_resource mutex new numbers numeric optional ostream queue
random ranges ratio regex scoped_allocator semaphore set shared_mutex source_location span
sstream stack stdexcept stop_token streambuf string string_view syncstream system_error thread
tuple type_traits typeindex typeinfo unordered_map unordered_set utility valarray variant vector
version cassert cctype cerrno cfenv cfloat cinttypes climits clocale cmath csetjmp csignal
cstdarg cstddef cstdint cstdio cstdlib cstring ctime cuchar cwchar cwctype
""".split())
# Standard, but not pure: I/O and clocks do not belong in the codec.
IMPURE = {"iostream", "fstream", "cstdio", "thread", "chrono", "ctime", "filesystem", "mutex",
          "future", "random", "csignal"}

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
# Calls that read a clock, print or touch files, whatever header brought them in.
CALLS = re.compile(r'(::now\s*\(|\bstd::(cout|cerr|clog)\b|\b(f?printf|fopen|puts|getenv)\s*\(|'
                   r'\bspdlog::|\buv_)')


def main() -> int:
    args = sys.argv[1:]
    root = pathlib.Path(args[0])
    allowed = ["mqttsn/"]
    impure = set(IMPURE)
    i = 1
    while i < len(args):
        if args[i] == "--allow":
            allowed.append(args[i + 1])
            i += 2
        elif args[i] == "--chrono-types":
            impure.discard("chrono")
            i += 1
        else:
            print(f"unknown argument {args[i]}")
            return 2
    bad = []
    files = sorted(p for p in root.rglob("*") if p.suffix in {".hpp", ".cpp", ".h", ".cc"})
    if not files:
        print(f"no sources under {root}")
        return 1
    for path in files:
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            code = line.split("//", 1)[0]
            m = INCLUDE.match(line)
            if not m:
                if CALLS.search(code):
                    bad.append(f"{path}:{n}: {line.strip()}")
                continue
            kind, name = m.groups()
            ok = (kind == "<" and name in STD and name not in impure) or (
                kind == '"' and any(name.startswith(a) for a in allowed))
            if not ok:
                bad.append(f"{path}:{n}: {line.strip()}")
    for b in bad:
        print(f"not allowed in {root.name}/:", b)
    print(f"checked {len(files)} files: {'FAIL' if bad else 'ok'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
