"""Job functions for worker tests: rq imports them by dotted path, like the app's own jobs."""


def add(a: int, b: int) -> int:
    return a + b
