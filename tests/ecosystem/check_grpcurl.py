#!/usr/bin/env python3
"""Checks `calls --format grpcurl` against `calls --format json` of the same
capture: every command parses as grpcurl's command line (a POSIX shell word
list, grpcurl's own flags, each with its value) and says what the call sent.

usage: check_grpcurl.py COMMANDS_FILE CALLS_JSONL_FILE
Prints one line per problem and exits 1 when there is any; prints a count of
checked commands otherwise.
"""
import json
import shlex
import sys

# grpcurl flags that take a value, and those that do not (grpcurl -help).
WITH_VALUE = {"-authority", "-import-path", "-proto", "-protoset", "-H", "-rpc-header",
              "-reflect-header", "-max-time", "-d", "-servername", "-cacert", "-cert", "-key"}
WITHOUT_VALUE = {"-plaintext", "-insecure"}
SKIPPED_HEADERS = {"content-type", "te", "user-agent", "grpc-timeout", "grpc-encoding",
                   "grpc-accept-encoding", "accept-encoding", "content-length"}


def json_stream(text):
    """The JSON values of a grpcurl -d stream (objects separated by white space)."""
    dec, i, out = json.JSONDecoder(), 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            return out
        value, i = dec.raw_decode(text, i)
        out.append(value)


def parse(words):
    """(flags as a list of (flag, value)), positional arguments."""
    flags, positional, i = [], [], 1
    while i < len(words):
        w = words[i]
        if w in WITH_VALUE:
            if i + 1 >= len(words):
                raise ValueError(f"{w} without a value")
            flags.append((w, words[i + 1]))
            i += 2
        elif w in WITHOUT_VALUE:
            flags.append((w, None))
            i += 1
        elif w.startswith("-"):
            raise ValueError(f"{w} is not a grpcurl flag")
        else:
            positional.append(w)
            i += 1
    return flags, positional


def main():
    commands_file, calls_file = sys.argv[1], sys.argv[2]
    calls = [json.loads(l) for l in open(calls_file) if l.strip()]
    lines = open(commands_file).read().splitlines()
    problems, checked, call_no = [], 0, 0
    for line in lines:
        if line.startswith("# call "):
            call_no = int(line.split()[2].rstrip(":"))
            continue
        if line.startswith("#") or not line.strip():
            continue
        call = calls[call_no - 1]
        where = f"call {call_no}"
        try:
            words = shlex.split(line, comments=True, posix=True)
            if words[0] != "grpcurl":
                raise ValueError(f"starts with {words[0]!r}")
            flags, positional = parse(words)
            if positional != [call["conn"]["server"], call["method"].lstrip("/")]:
                raise ValueError(f"address and method {positional}")
            data = [v for f, v in flags if f == "-d"]
            want = [m["json"] for m in call["requests"]]
            if len(data) != 1 or json_stream(data[0]) != want:
                raise ValueError(f"-d {data} is not the requests {want}")
            sent = [tuple(v.split(": ", 1)) for f, v in flags if f == "-H"]
            want_h = [(n, v) for n, v in call["request_headers"]
                      if n is not None and v is not None and not n.startswith(":") and n not in SKIPPED_HEADERS]
            if sent != want_h:
                raise ValueError(f"-H {sent} is not the metadata {want_h}")
            scheme = dict((n, v) for n, v in call["request_headers"] if n).get(":scheme")
            if (("-plaintext", None) in flags) != (scheme != "https"):
                raise ValueError(f"-plaintext does not follow :scheme {scheme}")
            if call["authority"] and ("-authority", call["authority"]) not in flags:
                raise ValueError("no -authority")
            if call["timeout_ms"] is not None:
                got = [float(v) for f, v in flags if f == "-max-time"]
                if got != [call["timeout_ms"] / 1000.0]:
                    raise ValueError(f"-max-time {got} for a {call['timeout_ms']} ms deadline")
            checked += 1
        except (ValueError, IndexError, json.JSONDecodeError) as e:
            problems.append(f"{where}: {e}: {line[:300]}")
    for p in problems:
        print(p)
    print(f"checked {checked} commands")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
