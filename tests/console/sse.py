"""Reading a Server-Sent Events response from Flask's test client, one message at a time
(the wallboard's and the agent desk's feeds)."""

from __future__ import annotations

import json


class Feed:
    """An open stream response, read one SSE message at a time."""

    def __init__(self, response) -> None:
        self.response = response
        self.chunks = iter(response.response)
        self.buffer = ""

    def next(self) -> dict:
        """The next message: {"event", "id", "data"} or {"comment"} or {"retry"}."""
        while "\n\n" not in self.buffer:
            self.buffer += next(self.chunks).decode()
        block, self.buffer = self.buffer.split("\n\n", 1)
        message: dict = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                message["comment"] = value
            elif name == "data":
                message["data"] = message.get("data", "") + value
            else:
                message[name] = value
        return message

    def next_event(self) -> dict:
        while True:
            message = self.next()
            if "event" in message:
                message["data"] = json.loads(message["data"])
                return message

    def close(self) -> None:
        self.response.close()
