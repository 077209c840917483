#!/usr/bin/python3
"""Fails if a file in mqttsn/ includes anything but C++ standard headers or "mqttsn/..." headers.

The codec must stay pure (no I/O, clock or logging libraries): see docs/design.md.
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


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    bad = []
    files = sorted(p for p in root.rglob("*") if p.suffix in {".hpp", ".cpp", ".h", ".cc"})
    if not files:
        print(f"no sources under {root}")
        return 1
    for path in files:
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            kind, name = m.groups()
            ok = (kind == "<" and name in STD and name not in IMPURE) or (
                kind == '"' and name.startswith("mqttsn/"))
            if not ok:
                bad.append(f"{path}:{n}: {line.strip()}")
    for b in bad:
        print("not allowed in mqttsn/:", b)
    print(f"checked {len(files)} files: {'FAIL' if bad else 'ok'}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
